import { Global, Module } from '@nestjs/common';
import { AuthController } from './auth.controller';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';

@Global()
@Module({ providers: [AuthRepository, AuthService], controllers: [AuthController], exports: [AuthService] })
export class AuthModule {}
