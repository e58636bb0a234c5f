import { Controller, Get, Param, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Access } from '../auth/access.decorator';
import { Public } from '../auth/auth.decorators';
import { notFound } from '../common/domain-error';
import { PUBLIC_PAGE } from './session.controller';
import { WebExceptionFilter } from './web-exception.filter';
import { WEB_DIR } from './web-views';

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The pages' own CSS and scripts (no CDN): read once at start from src/web/static, served by name from that list only. */
@ApiExcludeController()
@UseFilters(WebExceptionFilter)
@Controller('static')
export class StaticController {
  private readonly files = new Map<string, StaticFile>();

  constructor() {
    const dir = join(WEB_DIR, 'static');
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dir, name));
      this.files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"` });
    }
  }

  @Get(':name')
  @Public()
  @Access(PUBLIC_PAGE)
  serve(@Param('name') name: string, @Res() res: Response): void {
    const file = this.files.get(name);
    if (!file) throw notFound('file', name);
    res.set({ 'Content-Type': file.type, ETag: file.etag, 'Cache-Control': 'public, max-age=300' });
    if (res.req.headers['if-none-match'] === file.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).send(file.body);
  }
}
