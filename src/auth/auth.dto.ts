import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDateString, IsEmail, IsEnum, IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { OrganisationEntity, Role, UserEntity } from './auth.entity';

export class CreateOrganisationDto {
  @ApiProperty({ example: 'Acme Imaging GmbH' }) @IsString() @Length(2, 200) name!: string;
}

export class CreateUserDto {
  @ApiProperty({ example: 'ml@acme.example' }) @IsEmail() email!: string;
  @ApiProperty({ example: 'Acme ML team' }) @IsString() @Length(1, 200) displayName!: string;
  @ApiProperty({ enum: Role }) @IsEnum(Role) role!: Role;
  @ApiPropertyOptional({ description: 'Required for vendors, empty otherwise' }) @IsOptional() @IsUUID() organisationId?: string;
}

/** GET /api/users: the only filter; any other query parameter is refused rather than ignored. */
export class ListUsersQueryDto {
  @ApiPropertyOptional({ example: 'ml@acme.example' }) @IsOptional() @IsString() @Length(1, 320) email?: string;
}

export class IssueTokenDto {
  @ApiProperty({ example: 'ci' }) @IsString() @Length(1, 100) label!: string;
  @ApiPropertyOptional({ description: 'ISO 8601; default and maximum lifetime are configured (ASSAY_TOKEN_DEFAULT_DAYS, ASSAY_TOKEN_MAX_DAYS)' })
  @IsOptional()
  @IsDateString({ strict: true })
  expiresAt?: string;
}

export class TokenInfoResponse {
  @ApiProperty() id!: string;
  @ApiProperty() label!: string;
  @ApiProperty({ description: 'First characters of the token, to recognise it' }) prefix!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty() expiresAt!: string;
  @ApiProperty({ nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
}

export class OrganisationResponse {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() createdAt!: string;
}

export class UserResponse {
  @ApiProperty() id!: string;
  @ApiProperty() email!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ enum: Role }) role!: Role;
  @ApiProperty({ nullable: true, type: String }) organisationId!: string | null;
}

export class TokenResponse {
  @ApiProperty({ description: 'Shown once; store it now' }) token!: string;
  @ApiProperty() tokenId!: string;
  @ApiProperty() userId!: string;
  @ApiProperty() expiresAt!: string;
}

export const toOrganisationResponse = (o: OrganisationEntity): OrganisationResponse => ({ id: o.id, name: o.name, createdAt: o.createdAt.toISOString() });
export const toUserResponse = (u: UserEntity): UserResponse => ({ id: u.id, email: u.email, displayName: u.displayName, role: u.role, organisationId: u.organisationId });
