import { Global, Module } from '@nestjs/common';
import { AuthController } from './auth.controller';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';
import { CsrfService } from './web-session';

@Global()
@Module({ providers: [AuthRepository, AuthService, CsrfService], controllers: [AuthController], exports: [AuthService, CsrfService] })
export class AuthModule {}
