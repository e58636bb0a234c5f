import { CappedLog } from './capped-log';

describe('CappedLog', () => {
  it('keeps everything when the log fits the cap', () => {
    const log = new CappedLog(100);
    log.push(Buffer.from('hello '));
    log.push(Buffer.from('world'));
    expect(log.text()).toBe('hello world');
    expect(log.truncated).toBe(false);
  });

  it('keeps the head and the tail and says how much it dropped when the log exceeds the cap', () => {
    const log = new CappedLog(10);
    log.push(Buffer.from('HEAD-'));
    for (let i = 0; i < 100; i++) log.push(Buffer.from('x'));
    log.push(Buffer.from('-TAIL'));
    expect(log.truncated).toBe(true);
    expect(log.text()).toBe('HEAD-\n[... 100 bytes of log dropped ...]\n-TAIL');
  });

  it('never holds more than the cap in memory when fed one large chunk', () => {
    const log = new CappedLog(8);
    log.push(Buffer.alloc(1_000_000, 97));
    expect(log.text().replace(/\n\[.*\]\n/, '')).toBe('aaaaaaaa');
    expect(log.truncated).toBe(true);
  });
});
