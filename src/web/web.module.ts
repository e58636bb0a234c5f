import { Module } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { AdminPagesController } from './admin-pages.controller';
import { ApiHandlers } from './api-handlers';
import { BenchmarkPagesController } from './benchmark-pages.controller';
import { FormInterceptor } from './form-body';
import { LoginForm } from './login-form';
import { ReportPagesController } from './report-pages.controller';
import { SessionController } from './session.controller';
import { StaticController } from './static.controller';
import { SubmissionPagesController } from './submission-pages.controller';
import { WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

/**
 * The web interface (issue 10): server-rendered pages over the API's own handlers (ApiHandlers), sign-in with a
 * token kept in an HttpOnly cookie, CSRF on every form and on every cookie-authenticated state change.
 */
@Module({
  imports: [BenchmarksModule],
  providers: [WebViews, ApiHandlers, LoginForm, FormInterceptor, WebExceptionFilter],
  controllers: [
    SessionController,
    StaticController,
    BenchmarkPagesController,
    SubmissionPagesController,
    AdminPagesController,
    ReportPagesController,
  ],
})
export class WebModule {}
