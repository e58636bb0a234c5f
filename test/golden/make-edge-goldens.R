#!/usr/bin/env Rscript
# R references for make-edge-goldens.py: glm recalibration intercept/slope (default glm.control, convergence flag
# recorded) and survival::concordance. Usage: Rscript make-edge-goldens.R <in> <out>
suppressPackageStartupMessages({ library(jsonlite); library(survival) })
args <- commandArgs(trailingOnly = TRUE)
doc <- fromJSON(args[[1]], simplifyVector = TRUE)
num <- function(x) structure(sprintf("%.17g", x), class = "json")
calib <- list()
for (i in seq_len(nrow(doc$calibration))) {
  y <- doc$calibration$labels[[i]]; p <- doc$calibration$scores[[i]]
  lp <- qlogis(p)
  w <- character(0)
  fa <- withCallingHandlers(glm(y ~ 1, offset = lp, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)),
                            warning = function(m) { w <<- c(w, conditionMessage(m)); invokeRestart("muffleWarning") })
  fb <- withCallingHandlers(glm(y ~ lp, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)),
                            warning = function(m) { w <<- c(w, conditionMessage(m)); invokeRestart("muffleWarning") })
  calib[[doc$calibration$name[i]]] <- list(
    intercept = num(coef(fa)[[1]]), intercept_converged = fa$converged,
    slope = num(coef(fb)[[2]]), slope_model_intercept = num(coef(fb)[[1]]), slope_converged = fb$converged,
    warnings = w)
}
surv <- list()
for (i in seq_len(nrow(doc$survival))) {
  tt <- doc$survival$time[[i]]; ee <- doc$survival$event[[i]]; rr <- doc$survival$risk[[i]]
  cc <- concordance(Surv(tt, ee) ~ rr, reverse = TRUE)
  cnt <- cc$count
  surv[[doc$survival$name[i]]] <- list(harrell = num(unname(cc$concordance)),
    concordant = num(unname(cnt[["concordant"]])), discordant = num(unname(cnt[["discordant"]])), tied_x = num(unname(cnt[["tied.x"]])))
}
out <- list(versions = list(R = paste(R.version$major, R.version$minor, sep = "."), survival = as.character(packageVersion("survival"))),
            glm_calibration = calib, survival_concordance = surv)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA), args[[2]])
