#!/usr/bin/env Rscript
# R references for make-stats-goldens.py: glm calibration intercept/slope, p.adjust("holm"), wilcox.test as
# challengeR calls it (paired, exact = FALSE, correct = TRUE), survival::concordance. Usage: Rscript ... <in> <out>
suppressPackageStartupMessages({ library(jsonlite); library(survival) })
args <- commandArgs(trailingOnly = TRUE)
doc <- fromJSON(args[[1]], simplifyVector = TRUE)
num <- function(x) structure(if (length(x) == 1) sprintf("%.17g", x) else paste0("[", paste(sprintf("%.17g", x), collapse = ","), "]"), class = "json")
ctl <- glm.control(epsilon = 1e-15, maxit = 100)

calib <- list()
for (i in seq_len(nrow(doc$calibration))) {
  y <- doc$calibration$labels[[i]]; p <- doc$calibration$scores[[i]]
  if (any(p <= 0 | p >= 1)) { calib[[doc$calibration$name[i]]] <- NULL; next }
  lp <- qlogis(p)
  a <- coef(glm(y ~ 1, offset = lp, family = binomial, control = ctl))
  b <- coef(glm(y ~ lp, family = binomial, control = ctl))
  calib[[doc$calibration$name[i]]] <- list(intercept = num(a[[1]]), slope = num(b[[2]]), slope_model_intercept = num(b[[1]]))
}

wil <- list()
for (i in seq_len(nrow(doc$wilcoxon))) {
  x <- doc$wilcoxon$x[[i]]; y <- doc$wilcoxon$y[[i]]
  res <- list()
  for (alt in c("two.sided", "greater", "less")) {
    t <- suppressWarnings(wilcox.test(x, y, paired = TRUE, exact = FALSE, correct = TRUE, alternative = alt))
    res[[alt]] <- list(statistic_V = num(unname(t$statistic)), p = num(t$p.value))
  }
  wil[[doc$wilcoxon$name[i]]] <- res
}

surv <- list()
for (i in seq_len(nrow(doc$survival))) {
  tt <- doc$survival$time[[i]]; ee <- doc$survival$event[[i]]; rr <- doc$survival$risk[[i]]
  cc <- concordance(Surv(tt, ee) ~ rr, reverse = TRUE)
  cnt <- cc$count
  surv[[doc$survival$name[i]]] <- list(
    harrell = num(unname(cc$concordance)),
    concordant = num(unname(cnt[["concordant"]])), discordant = num(unname(cnt[["discordant"]])),
    tied_x = num(unname(cnt[["tied.x"]])), tied_y = num(unname(cnt[["tied.y"]])),
    # Informational only: survival's Uno-type weights use a different censoring-estimator convention (left limits).
    uno_n_G2_no_tau = num(unname(concordance(Surv(tt, ee) ~ rr, reverse = TRUE, timewt = "n/G2")$concordance))
  )
}

out <- list(
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."), survival = as.character(packageVersion("survival"))),
  glm_calibration = calib,
  p_adjust_holm = num(p.adjust(doc$holm_input, method = "holm")),
  wilcox_test_challengeR = wil,
  survival_concordance = surv
)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA), args[[2]])
