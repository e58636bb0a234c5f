import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig, loadConfig } from './config.schema';

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Reads the process environment: the only place in Assay that does. */
export function loadConfigFromProcess(): AppConfig {
  return loadConfig(process.env);
}

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: APP_CONFIG, useValue: config }], exports: [APP_CONFIG] };
  }
}
