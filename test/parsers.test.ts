import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQuery } from '../src/http/query.js';
import { HttpError } from '../src/errors.js';
import { newKeyId, parseKeyId } from '../src/ids/key-id.js';
import { parsePskFile } from '../src/tls/psk.js';
import { ConfigError } from '../src/errors.js';

const KEY = 'aa'.repeat(48);

describe('query strings', () => {
  it('percent-decodes names and values, + as space', () => {
    const q = parseQuery('remoteSystemID=skip%32.cml.lab&size=128', ['remoteSystemID', 'size'], 'GET /key');
    assert.equal(q.get('remoteSystemID'), 'skip2.cml.lab');
    assert.equal(q.get('size'), '128');
    assert.equal(parseQuery('remoteSystemID=a+b', ['remoteSystemID'], 'x').get('remoteSystemID'), 'a b');
  });

  it('refuses repeated, unknown and badly encoded parameters with 400', () => {
    const status = (qs: string): number => {
      try {
        parseQuery(qs, ['remoteSystemID'], 'GET /key');
      } catch (e) {
        return e instanceof HttpError ? e.status : -1;
      }
      return 200;
    };
    assert.equal(status('remoteSystemID=a&remoteSystemID=b'), 400);
    assert.equal(status('remotesystemid=a'), 400);
    assert.equal(status('remoteSystemID=%zz'), 400);
    assert.equal(status('remoteSystemID=%E0%A4%A'), 400);
  });
});

describe('keyId (draft §4.2.1)', () => {
  it('accepts even-length hex up to 128 digits and stores it in lower case', () => {
    assert.deepEqual(parseKeyId('1726e9AE76234FB1dd1283d4dca1911e1f93864d70f3069e'), {
      ok: true,
      keyId: '1726e9ae76234fb1dd1283d4dca1911e1f93864d70f3069e',
    });
    assert.equal(parseKeyId('ab'.repeat(64)).ok, true);
  });

  it('refuses empty, non-hex, odd-length and over-long keyIds', () => {
    for (const bad of ['', 'xyz0', 'abc', 'ab'.repeat(65), '../etc', 'ab cd'])
      assert.equal(parseKeyId(bad).ok, false, bad);
  });

  it('draws 128-bit keyIds as 32 lower-case hex digits', () => {
    assert.match(newKeyId(), /^[0-9a-f]{32}$/);
    assert.notEqual(newKeyId(), newKeyId());
  });
});

describe('PSK file', () => {
  it('reads identity:hexkey lines, skipping comments and blank lines', () => {
    const t = parsePskFile(`# routers\n\nrouter1:${KEY}\n  router2 : ${KEY.toUpperCase()}  \n`, 'psk.txt');
    assert.deepEqual([...t.keys()], ['router1', 'router2']);
    assert.equal(t.get('router2')!.toString('hex'), KEY);
  });

  it('splits on the last colon so identities may contain colons', () => {
    assert.ok(parsePskFile(`site:a:${KEY}\n`, 'psk.txt').has('site:a'));
  });

  it('names the file and line of each problem and never quotes a key', () => {
    const secret = 'cd'.repeat(20) + 'z';
    let err: unknown;
    try {
      parsePskFile(
        `r1:${KEY}\nr1:${KEY}\nnocolon\nr2:${secret}\nr3:abcd\n${'i'.repeat(129)}:${KEY}\n`,
        'psk.txt',
      );
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems, [
      'psk.txt:2: identity "r1" appears twice',
      'psk.txt:3: expected "identity:hexkey"',
      'psk.txt:4: key for "r2" is not an even number of hex digits',
      'psk.txt:5: key for "r3" is 2 bytes; it must be 16 to 256',
      'psk.txt:6: identity must be 1 to 128 bytes',
    ]);
    assert.ok(!err.message.includes(KEY) && !err.message.includes(secret));
  });

  it('refuses a file with no entries', () => {
    assert.throws(() => parsePskFile('# nothing\n', 'psk.txt'), /no "identity:hexkey" lines/);
  });
});
