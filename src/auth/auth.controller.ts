import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { Access, ADMIN_ONLY, EVERY_ROLE } from './access.decorator';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Principal, Roles } from './auth.decorators';
import {
  CreateOrganisationDto,
  CreateUserDto,
  IssueTokenDto,
  ListUsersQueryDto,
  OrganisationResponse,
  TokenInfoResponse,
  TokenResponse,
  toOrganisationResponse,
  toUserResponse,
  UserResponse,
} from './auth.dto';
import { Role } from './auth.entity';
import { AuthService } from './auth.service';

const ALL_ROLES = [Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin];

@ApiTags('auth')
@ApiBearerAuth()
@Controller('api')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Get('me')
  @Roles(...ALL_ROLES)
  @Access(EVERY_ROLE)
  @ApiOperation({ summary: 'Who the token belongs to' })
  me(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }

  @Post('organisations')
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Create a vendor organisation' })
  async createOrganisation(@CurrentPrincipal() actor: Principal, @Body() body: CreateOrganisationDto): Promise<OrganisationResponse> {
    return toOrganisationResponse(await this.auth.createOrganisation(actor, body.name));
  }

  @Get('organisations')
  @Roles(Role.Admin, Role.Evaluator, Role.Regulator)
  @Access({ anonymous: '401', vendor: '403', vendorOther: '403', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' })
  async listOrganisations(): Promise<OrganisationResponse[]> {
    return (await this.auth.listOrganisations()).map(toOrganisationResponse);
  }

  @Post('users')
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Create a user with one role (vendors belong to an organisation)' })
  async createUser(@CurrentPrincipal() actor: Principal, @Body() body: CreateUserDto): Promise<UserResponse> {
    return toUserResponse(await this.auth.createUser(actor, body));
  }

  @Get('users')
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Users, optionally filtered by e-mail' })
  async listUsers(@Query() query: ListUsersQueryDto): Promise<UserResponse[]> {
    return (await this.auth.listUsers(query.email)).map(toUserResponse);
  }

  @Post('users/:id/tokens')
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Mint an API token for a user; the secret is shown once; it expires (default and maximum lifetime are configured)' })
  issueToken(@CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: IssueTokenDto): Promise<TokenResponse> {
    return this.auth.issueToken(actor, id, body.label, body.expiresAt ? new Date(body.expiresAt) : undefined);
  }

  @Get('tokens')
  @Roles(...ALL_ROLES)
  @Access(EVERY_ROLE)
  @ApiOperation({ summary: 'Your own tokens: label, prefix, created, expires, last used (to the minute), revoked; never the secret or its hash' })
  listTokens(@CurrentPrincipal() principal: Principal): Promise<TokenInfoResponse[]> {
    return this.auth.listOwnTokens(principal);
  }

  @Delete('tokens/:id')
  @Roles(...ALL_ROLES)
  @Access(EVERY_ROLE)
  @ApiOperation({ summary: 'Revoke one of your tokens (admins: any token); audited' })
  revokeToken(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<TokenInfoResponse> {
    return this.auth.revokeToken(principal, id);
  }
}
