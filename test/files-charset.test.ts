import { describe, expect, it } from 'vitest';
import { normalizeContentType } from '../src/files/names';
import { newUser } from './helpers';
import { makeFile, send } from './files-fixtures';

describe('the charset of a stored content type', () => {
  it('keeps a known charset and drops any other', () => {
    expect(normalizeContentType('text/plain; charset=UTF-8')).toBe('text/plain; charset=utf-8');
    expect(normalizeContentType('text/plain; charset="windows-1252"')).toBe('text/plain; charset=windows-1252');
    expect(normalizeContentType('text/plain; charset=us-ascii')).toBe('text/plain; charset=us-ascii');
    for (const charset of ['utf-7', 'UTF-16', 'utf-16le', 'foo', 'x-user-defined']) {
      expect(normalizeContentType(`text/html; charset=${charset}`), charset).toBe('text/html');
    }
  });

  it('a file uploaded with charset=utf-7, utf-16 or foo downloads, without that charset', async () => {
    const u = await newUser();
    for (const charset of ['utf-7', 'utf-16', 'foo']) {
      const f = await makeFile(u.token, '+ADw-script+AD4-', { contentType: `text/html; charset=${charset}` });
      expect(f.content_type).toBe('text/html');
      const res = await send('GET', `/files/${f.file_id}/download`, { token: u.token });
      expect(res.status, charset).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html');
      expect(await res.text()).toBe('+ADw-script+AD4-');
    }
    const ok = await makeFile(u.token, 'hé', { contentType: 'text/plain; charset=iso-8859-1' });
    const res = await send('GET', `/files/${ok.file_id}/download`, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=iso-8859-1');
    await res.arrayBuffer();
  });
});
