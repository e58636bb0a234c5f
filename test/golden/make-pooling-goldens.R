#!/usr/bin/env Rscript
# Golden values for src/metrics/pooling.ts and src/metrics/distributions.ts (federated pooling, issue 11).
# Usage, from the repository root (Debian 12: apt-get install -y r-base-core r-cran-metafor r-cran-jsonlite):
#   Rscript test/golden/make-pooling-goldens.R test/golden/pooling-goldens.json
# References: metafor::rma(method = "DL") for the random-effects pooling (tau2, estimate, se, CI, Q, p(Q), I2);
# stats::pchisq, pt, qt for the distributions; survival::concordance with strata() for the stratified Harrell's C. metafor 3.8's predict() forms the prediction interval with the normal
# quantile (or t with k - 1 df under test = "t"), not the t_{k-2} of Higgins, Thompson & Spiegelhalter (2009) that
# Assay reports, so that interval is formed here from metafor's tau2 and se and R's qt(0.975, k - 2).
# Doubles are written with %.17g (as strings; vectors as "[...]"), so they round-trip exactly.
suppressPackageStartupMessages({ library(jsonlite); library(metafor); library(survival) })
args <- commandArgs(trailingOnly = TRUE)
num <- function(x) structure(if (length(x) == 1) sprintf("%.17g", x) else paste0("[", paste(sprintf("%.17g", x), collapse = ","), "]"), class = "json")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sets <- list(
  list(name = "bcg-log-rr", source = "metafor dat.bcg (Colditz 1994), escalc(measure = 'RR')", yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
  # Three hospitals' AUROCs with DeLong variances; heterogeneous.
  list(name = "three-site-auroc", source = "hand-made", yi = c(0.91, 0.84, 0.95), vi = c(0.0009, 0.0016, 0.0004)),
  # Homogeneous: Q < df, tau2 truncated at 0, I2 = 0.
  list(name = "homogeneous", source = "hand-made", yi = c(0.80, 0.81, 0.79, 0.805), vi = c(0.002, 0.003, 0.0025, 0.004)),
  # Two nodes: no prediction interval.
  list(name = "two-nodes", source = "hand-made", yi = c(0.72, 0.88), vi = c(0.0025, 0.0036))
)
meta <- list()
for (s in sets) {
  r <- rma(yi = s$yi, vi = s$vi, method = "DL")
  k <- length(s$yi)
  pi <- if (k >= 3) { h <- qt(0.975, k - 2) * sqrt(r$tau2 + r$se^2); c(r$b[[1]] - h, r$b[[1]] + h) } else NULL
  meta[[s$name]] <- list(
    source = s$source, yi = num(s$yi), vi = num(s$vi),
    tau2 = num(r$tau2), estimate = num(r$b[[1]]), se = num(r$se), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub),
    q = num(r$QE), pQ = num(r$QEp), i2 = num(r$I2 / 100),
    weights = num(as.numeric(weights(r)) / 100),
    prediction = if (is.null(pi)) NULL else num(pi)
  )
}

chisq <- list(); for (x in c(0.1, 1, 3.5, 7.2, 25, 80)) for (df in c(1, 2, 3, 9, 30)) chisq[[length(chisq) + 1]] <- list(x = num(x), df = num(df), upper = num(pchisq(x, df, lower.tail = FALSE)))
tq <- list(); for (p in c(0.5, 0.6, 0.9, 0.975, 0.995, 0.9999, 0.025, 1e-6)) for (df in c(1, 2, 3, 5, 10, 40, 500)) tq[[length(tq) + 1]] <- list(p = num(p), df = num(df), q = num(qt(p, df)))
tc <- list(); for (t in c(-30, -3, -1.2, 0, 0.4, 2.5, 12)) for (df in c(1, 2, 7, 60)) tc[[length(tc) + 1]] <- list(t = num(t), df = num(df), cdf = num(pt(t, df)))

# Harrell's C stratified by institution on survival's NCCTG lung data (the real multi-site cohort): pairs within an
# institution only. Risk: a fixed linear score (NA -> 0), so the value depends on nothing fitted.
lg <- survival::lung
lg <- lg[!is.na(lg$inst), ]
# Institutions with at least 15 patients: a node smaller than that is below what a site can be scored on alone.
lg <- lg[lg$inst %in% as.integer(names(which(table(lg$inst) >= 15))), ]
risk <- 0.03 * lg$age + 0.5 * ifelse(is.na(lg$ph.ecog), 0, lg$ph.ecog) - 0.4 * (lg$sex == 2)
ev <- as.integer(lg$status == 2)
cs <- concordance(Surv(lg$time, ev) ~ risk + strata(lg$inst), reverse = TRUE)
cu <- concordance(Surv(lg$time, ev) ~ risk, reverse = TRUE)
stratified <- list(
  source = "survival::lung (NCCTG), rows of institutions with 15 or more patients; event = status 2; risk = 0.03 age + 0.5 ph.ecog (NA 0) - 0.4 [female]",
  time = num(lg$time), event = num(ev), risk = num(risk), inst = num(lg$inst),
  concordance_stratified = num(unname(cs$concordance)), concordance_union = num(unname(cu$concordance))
)

out <- list(
  generator = list(script = "test/golden/make-pooling-goldens.R", R = paste(R.version$major, R.version$minor, sep = "."), metafor = as.character(packageVersion("metafor"))),
  meta = meta, pchisq_upper = chisq, qt = tq, pt = tc, stratified_concordance = stratified
)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA), args[[1]])
