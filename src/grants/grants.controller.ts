import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, EVERY_ROLE } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { CreateGrantDto, GrantResponse, toGrantResponse } from './grants.dto';
import { GrantsService } from './grants.service';

@ApiTags('grants')
@ApiBearerAuth()
@Controller('api/grants')
export class GrantsController {
  constructor(private readonly grants: GrantsService) {}

  @Post()
  @HttpCode(201)
  @Roles(Role.Admin, Role.Evaluator, Role.Vendor)
  @Access({ anonymous: '401', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '403', regulatorGranted: '403', admin: '2xx' })
  @ApiOperation({ summary: 'Give a regulator read access to a benchmark (admins, evaluators) or to one submission (also its vendor); audited' })
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateGrantDto): Promise<GrantResponse> {
    return toGrantResponse(
      await this.grants.create(actor, {
        regulatorEmail: body.regulatorEmail,
        ...(body.benchmark === undefined ? {} : { benchmark: body.benchmark }),
        ...(body.submissionId === undefined ? {} : { submissionId: body.submissionId }),
        ...(body.note === undefined ? {} : { note: body.note }),
      }),
    );
  }

  @Get()
  @Roles(Role.Admin, Role.Evaluator, Role.Vendor, Role.Regulator)
  @Access(EVERY_ROLE)
  @ApiOperation({ summary: 'Grants: staff see all, a regulator its own, a vendor those on its submissions' })
  async list(@CurrentPrincipal() actor: Principal): Promise<GrantResponse[]> {
    return (await this.grants.list(actor)).map(toGrantResponse);
  }

  @Delete(':id')
  @Roles(Role.Admin, Role.Evaluator, Role.Vendor)
  @Access({ anonymous: '401', vendor: '2xx', vendorOther: '404', evaluator: '2xx', regulator: '403', regulatorGranted: '403', admin: '2xx' })
  @ApiOperation({ summary: 'Revoke a grant (whoever may give it); audited' })
  async revoke(@CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<GrantResponse> {
    return toGrantResponse(await this.grants.revoke(actor, id));
  }
}
