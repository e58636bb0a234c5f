import { Module } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config.schema';
import { REPORT_RENDERER } from '../report-ports';
import { ChromiumPdfPrinter } from './pdf';
import { VegaChromiumReportRenderer } from './report-renderer';

/** REPORT_RENDERER: HTML with server-drawn SVG charts, and its PDF through chromium (closed with the module). */
@Module({
  providers: [
    {
      provide: REPORT_RENDERER,
      useFactory: (config: AppConfig) => new VegaChromiumReportRenderer(new ChromiumPdfPrinter(config.reports.chromiumPath)),
      inject: [APP_CONFIG],
    },
  ],
  exports: [REPORT_RENDERER],
})
export class ReportRenderModule {}
