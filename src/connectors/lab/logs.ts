import { createHash } from 'node:crypto';

/** At most this many lines per answer; longer windows are sampled at a coarser, still aligned, step. */
export const LAB_LOG_MAX_LINES = 20_000;
const STEP_MS = 60_000;

const USERS = ['j.doe', 'a.smith', 'svc-backup', 'root', 'admin'];

type Template = (r: (n: number) => number, host: string) => string;

const TEMPLATES: Template[] = [
  (r) =>
    `sshd[${1000 + r(9000)}]: Accepted publickey for ${USERS[r(USERS.length)]} from 10.${r(256)}.${r(256)}.${1 + r(254)} port ${20000 + r(40000)} ssh2`,
  (r) =>
    `sshd[${1000 + r(9000)}]: Failed password for invalid user ${['oracle', 'test', 'ubuntu', 'pi'][r(4)]} from 203.0.113.${1 + r(254)} port ${20000 + r(40000)} ssh2`,
  (r) =>
    `sudo[${1000 + r(9000)}]: ${USERS[r(USERS.length)]} : TTY=pts/${r(4)} ; PWD=/home ; USER=root ; COMMAND=/usr/bin/systemctl status`,
  (r) => `CRON[${1000 + r(9000)}]: (root) CMD (/usr/local/bin/backup.sh --incremental --job ${r(100)})`,
  (r) =>
    `kernel: [${r(900000)}.${r(1000000)}] TCP: request_sock_TCP: Possible SYN flooding on port ${[22, 80, 443][r(3)]}.`,
  (r, host) =>
    `EventID=4688 host=${host} process=C:\\Windows\\System32\\${['cmd.exe', 'powershell.exe', 'rundll32.exe', 'svchost.exe'][r(4)]} parent=explorer.exe user=${USERS[r(3)]}`,
  (r, host) =>
    `EventID=3 host=${host} image=${['chrome.exe', 'outlook.exe', 'powershell.exe'][r(3)]} dst=198.51.100.${1 + r(254)}:${[443, 8443, 4444][r(3)]} proto=tcp`,
  (r) =>
    `systemd[1]: Started ${['Daily apt upgrade', 'Session c' + r(999) + ' of user ' + USERS[r(3)], 'Cleanup of Temporary Directories'][r(3)]}.`,
  (r) =>
    `auditd[${100 + r(900)}]: type=USER_LOGIN acct="${USERS[r(USERS.length)]}" exe="/usr/sbin/sshd" res=${['success', 'failed'][r(2)]}`,
];

/**
 * Synthetic but deterministic log lines for a host and window: one line per minute boundary within
 * [from, to] (a coarser aligned step when that would exceed {@link LAB_LOG_MAX_LINES}), each chosen from a
 * hash of the host name and the minute. The same host and window always give the same bytes, and
 * overlapping windows agree on their overlap.
 */
export function labLogLines(host: string, from: number, to: number): string[] {
  const count = Math.floor(to / STEP_MS) - Math.ceil(from / STEP_MS) + 1;
  const step = STEP_MS * Math.max(1, Math.ceil(count / LAB_LOG_MAX_LINES));
  const lines: string[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
    const digest = createHash('sha256').update(`${host}\u0000${t}`).digest();
    let offset = 0;
    const r = (n: number) => {
      const v = digest.readUInt16BE(offset % 30);
      offset += 2;
      return v % n;
    };
    const template = TEMPLATES[r(TEMPLATES.length)]!;
    lines.push(`${new Date(t).toISOString()} ${host} ${template(r, host)}`);
  }
  return lines;
}
