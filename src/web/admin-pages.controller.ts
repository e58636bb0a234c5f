import { Controller, Get, Header, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access, ADMIN_ONLY } from '../auth/access.decorator';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { CreateOrganisationDto, CreateUserDto, IssueTokenDto, ListUsersQueryDto } from '../auth/auth.dto';
import { Role } from '../auth/auth.entity';
import { ApiHandlers } from './api-handlers';
import { Form, FormFields, FormRoute } from './form-body';
import { validateForm } from './validate-form';
import { WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

type PageRequest = Request & AuthenticatedRequest;

/** Organisations, users and tokens: the admin's page, through the auth API's handlers. */
@ApiExcludeController()
@UseFilters(WebExceptionFilter)
@Controller('admin')
export class AdminPagesController {
  constructor(
    private readonly views: WebViews,
    private readonly api: ApiHandlers,
  ) {}

  @Get()
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async page(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Query('done') _done?: string, @Query('n') _n?: string): Promise<string> {
    const organisations = await this.api.auth.listOrganisations();
    const users = await this.api.auth.listUsers(new ListUsersQueryDto());
    const tokens = await this.api.auth.listTokens(principal);
    const orgNames = Object.fromEntries(organisations.map((o) => [o.id, o.name]));
    return this.views.render(req, 'admin', { title: 'Administration', organisations, users, tokens, orgNames, roles: Object.values(Role) });
  }

  @Post('organisations')
  @Roles(Role.Admin)
  @FormRoute()
  @Access(ADMIN_ONLY)
  async createOrganisation(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Form() form: FormFields, @Res() res: Response): Promise<void> {
    const org = await this.api.auth.createOrganisation(actor, await validateForm(CreateOrganisationDto, form));
    res.redirect(303, await this.views.noticeUrl(req, '/admin', `Organisation ${org.name} created.`));
  }

  @Post('users')
  @Roles(Role.Admin)
  @FormRoute()
  @Access(ADMIN_ONLY)
  async createUser(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Form() form: FormFields, @Res() res: Response): Promise<void> {
    const user = await this.api.auth.createUser(actor, await validateForm(CreateUserDto, form));
    res.redirect(303, await this.views.noticeUrl(req, '/admin', `User ${user.email} (${user.role}) created.`));
  }

  /** Mints a token and shows it once, on this response only (never stored, never shown again). */
  @Post('users/:id/tokens')
  @Roles(Role.Admin)
  @FormRoute()
  @Access(ADMIN_ONLY)
  @HttpCode(200)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async issueToken(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string, @Form() form: FormFields): Promise<string> {
    const body = await validateForm(IssueTokenDto, form);
    const issued = await this.api.auth.issueToken(actor, id, body);
    const user = (await this.api.auth.listUsers(new ListUsersQueryDto())).find((u) => u.id === id) ?? null;
    return this.views.render(req, 'token-issued', { title: 'Token created', issued, user, label: body.label });
  }

  @Post('tokens/:id/revoke')
  @Roles(Role.Admin)
  @FormRoute()
  @Access(ADMIN_ONLY)
  async revokeToken(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string, @Res() res: Response): Promise<void> {
    const t = await this.api.auth.revokeToken(actor, id);
    res.redirect(303, await this.views.noticeUrl(req, '/admin', `Token ${t.prefix}… revoked.`));
  }
}
