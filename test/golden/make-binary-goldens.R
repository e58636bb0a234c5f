#!/usr/bin/env Rscript
# Golden values from pROC for the datasets written by make-binary-goldens.py (which calls this script and merges
# the result into binary-goldens.json). Standalone use:
#   Rscript test/golden/make-binary-goldens.R <inputs.json> <proc-out.json>
suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 2)
doc <- fromJSON(args[[1]], simplifyVector = FALSE)

# jsonlite prints at most 15 significant digits; emit 17 verbatim so doubles round-trip exactly.
num <- function(x) {
  s <- sprintf("%.17g", x)
  structure(if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]"), class = "json")
}

proc_roc <- function(labels, scores) {
  # Fixed levels and direction: pROC's default direction = "auto" would flip an AUC below 0.5.
  roc(response = labels, predictor = scores, levels = c(0, 1), direction = "<", quiet = TRUE)
}

out <- list()
for (d in doc$datasets) {
  y <- unlist(d$labels)
  a <- proc_roc(y, unlist(d$scores))
  ci <- as.numeric(ci.auc(a, method = "delong", conf.level = 0.95))
  res <- list(
    auc = num(as.numeric(auc(a))),
    var_delong = num(as.numeric(var(a, method = "delong"))),
    ci_auc_delong = num(c(ci[1], ci[3]))
  )
  if (!is.null(d$scoresB)) {
    b <- proc_roc(y, unlist(d$scoresB))
    t <- roc.test(a, b, paired = TRUE, method = "delong", conf.level = 0.95)
    res$aucB <- num(as.numeric(auc(b)))
    res$var_delongB <- num(as.numeric(var(b, method = "delong")))
    res$roc_test_paired_delong <- list(
      statistic_z = num(unname(as.numeric(t$statistic))),
      p_value = num(as.numeric(t$p.value)),
      difference = num(unname(as.numeric(t$estimate[1] - t$estimate[2]))),
      conf_int = num(as.numeric(t$conf.int))
    )
  }
  out[[d$name]] <- res
}
meta <- list(pROC = as.character(packageVersion("pROC")), R = R.version.string)
writeLines(toJSON(list(generator = meta, datasets = out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE), args[[2]])
