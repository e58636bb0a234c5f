import { Global, Inject, Injectable, Module, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { createDataSource } from './data-source';

/** Owns the TypeORM DataSource; repositories take an optional transaction manager from it. */
@Injectable()
export class Database implements OnModuleDestroy {
  readonly dataSource: DataSource;
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.dataSource = createDataSource(config.database.url);
  }
  async init(): Promise<void> {
    if (!this.dataSource.isInitialized) await this.dataSource.initialize();
  }
  manager(tx?: EntityManager): EntityManager {
    return tx ?? this.dataSource.manager;
  }
  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }
  async onModuleDestroy(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: Database,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const db = new Database(config);
        await db.init();
        return db;
      },
    },
  ],
  exports: [Database],
})
export class DatabaseModule {}

export const InjectDatabase = (): ParameterDecorator => Inject(Database);
