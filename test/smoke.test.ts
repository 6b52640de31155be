import { describe, expect, it } from 'vitest';
import { call, newUser } from './helpers';

describe('smoke', () => {
  it('pings and registers', async () => {
    const ping = await call('GET', '/ping');
    expect(ping.json).toEqual({ msg: 'pong' });
    const u = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token });
    expect(ws.status).toBe(200);
    const list = await call('GET', '/workspace', { token: u.token });
    console.log(JSON.stringify(list.json), [...list.headers]);
    const doc = await call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
  });
});
