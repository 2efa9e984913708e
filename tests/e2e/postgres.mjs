// A PostgreSQL 15 server of a test's own (as src/store/postgres_server_for_test.h starts one for the
// unit tests): initdb into a temporary folder, pg_ctl on a unix socket inside it, no TCP port. As root
// it runs as the `postgres` system user (initdb refuses root) through runuser, the folder given to it.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const BIN_DIR = process.env.OPENBATCH_PG_BIN || '/usr/lib/postgresql/15/bin';
const PORT = 5432; // the socket lives in our own folder: no clash with other servers

export async function startPostgres() {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  let prefix = [];
  if (process.getuid() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    prefix = ['/usr/sbin/runuser', '-u', 'postgres', '--'];
  }
  const run = (tool, args) => {
    const argv = [...prefix, join(BIN_DIR, tool), ...args];
    try {
      execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      let serverLog = '';
      try { serverLog = readFileSync(log, 'utf8'); } catch { /* none yet */ }
      throw new Error(`${argv.join(' ')} failed: ${e.stderr}\n${serverLog}`);
    }
  };
  run('initdb', ['-D', data, '-U', 'openbatch', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const options = `-k ${dir} -p ${PORT} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c max_connections=200`;
  const start = () => run('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
  start();
  let running = true;
  return {
    dir,
    url: (db = 'postgres') => `postgresql:///${db}?host=${dir}&port=${PORT}&user=openbatch`,
    // An operator's restart: connections are cut at once (fast shutdown), then the server comes back.
    async restart(downMs = 1000) {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      await new Promise((r) => setTimeout(r, downMs));
      start();
    },
    async stop() {
      if (running) run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
    user: userInfo().username,
  };
}
