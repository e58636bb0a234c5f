#!/usr/bin/env node
import 'reflect-metadata';
import { Command } from 'commander';
import { ConfigValidationError } from '../config/config.schema';
import { ApiError } from './api-client';
import { registerAdminCommands } from './admin.command';
import { registerNodeCommands } from './node.command';
import { registerScoreCommand } from './score.command';
import { registerVendorCommands } from './vendor.command';
import { registerVerifyCommand } from './verify.command';

const program = new Command('assay').description('Assay: testing and benchmarking facility for cancer-imaging AI').showHelpAfterError();
registerAdminCommands(program);
registerNodeCommands(program);
registerScoreCommand(program);
registerVendorCommands(program);
registerVerifyCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof ApiError || error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`assay: ${message}\n`);
  process.exit(1);
});
