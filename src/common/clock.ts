import { Injectable } from '@nestjs/common';

/** The one door to the current time, so services can be tested with a fixed clock. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
