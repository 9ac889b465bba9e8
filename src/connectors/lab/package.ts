/**
 * The lab's investigation package: a real zip archive (stored entries, no compression) built in code, with
 * fixed timestamps so that one host's package has the same bytes, and the same SHA-256, every time.
 * The folders follow those Defender documents for its package (autoruns, installed programs, network
 * connections, processes, system information, users and groups); the contents are synthetic.
 */
import zlib from 'node:zlib';

/** DOS date 1980-01-01, time 00:00:00: the zip epoch, so nothing depends on the clock. */
const DOS_DATE = (1 << 5) | 1;
const DOS_TIME = 0;

function entriesFor(host: string): [string, string][] {
  const h = host.toLowerCase();
  return [
    [
      'Autoruns/Run.txt',
      `HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\r\n  SecurityHealth  C:\\Windows\\System32\\SecurityHealthSystray.exe\r\n`,
    ],
    ['Installed programs/InstalledPrograms.csv', `Name,Version,Publisher\r\nLab Agent,1.0.0,Quell Lab\r\n`],
    [
      'Network connections/ActiveNetConnections.txt',
      `Proto  Local Address      Foreign Address    State\r\nTCP    10.0.0.10:49710    203.0.113.7:443    ESTABLISHED\r\n`,
    ],
    [
      'Processes/Processes.csv',
      `ProcessId,Name,CommandLine\r\n4,System,\r\n1337,lab-agent.exe,lab-agent.exe --host ${h}\r\n`,
    ],
    ['System Information/SystemInfo.txt', `Host Name: ${h}\r\nOS Name: Lab Windows\r\n`],
    ['Users and Groups/Users.txt', `User accounts for \\\\${h}\r\nAdministrator  Guest\r\n`],
  ];
}

/** The zip archive the lab serves as `host`'s investigation package. */
export function labInvestigationPackage(host: string): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of entriesFor(host)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const data = Buffer.from(text, 'utf8');
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    // extra, comment, disk, internal and external attributes stay 0
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const count = centrals.length / 2;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
