#!/usr/bin/env Rscript
# Golden values, step 2 of 2: adds pROC reference outputs to test/golden/binary-goldens.json (written by
# make-binary-goldens.py). Run from the repo root after the Python step:
#   Rscript test/golden/make-binary-goldens.R
suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

path <- file.path("test", "golden", "binary-goldens.json")
doc <- fromJSON(path, simplifyVector = FALSE)

proc_roc <- function(labels, scores) {
  # Fixed levels and direction: pROC's default direction = "auto" would flip AUC < 0.5.
  roc(response = labels, predictor = scores, levels = c(0, 1), direction = "<", quiet = TRUE)
}

for (i in seq_along(doc$datasets)) {
  d <- doc$datasets[[i]]
  y <- unlist(d$labels)
  a <- proc_roc(y, unlist(d$scores))
  ci <- as.numeric(ci.auc(a, method = "delong", conf.level = 0.95))
  out <- list(
    auc = as.numeric(auc(a)),
    var_delong = as.numeric(var(a, method = "delong")),
    ci_auc_delong = c(ci[1], ci[3])
  )
  if (!is.null(d$scoresB)) {
    b <- proc_roc(y, unlist(d$scoresB))
    t <- roc.test(a, b, paired = TRUE, method = "delong", conf.level = 0.95)
    out$aucB <- as.numeric(auc(b))
    out$var_delongB <- as.numeric(var(b, method = "delong"))
    out$roc_test_paired_delong <- list(
      statistic_z = unname(as.numeric(t$statistic)),
      p_value = as.numeric(t$p.value),
      difference = unname(as.numeric(t$estimate[1] - t$estimate[2])),
      conf_int = if (is.null(t$conf.int)) NULL else as.numeric(t$conf.int)
    )
  }
  doc$datasets[[i]]$pROC <- out
}
doc$generator$R <- "test/golden/make-binary-goldens.R"
doc$generator$pROC <- as.character(packageVersion("pROC"))
doc$generator$R_version <- R.version.string

# 17 significant digits so doubles round-trip exactly.
writeLines(toJSON(doc, auto_unbox = TRUE, digits = I(17), null = "null", na = "null", pretty = TRUE), path)
cat("added pROC values to", path, "\n")
