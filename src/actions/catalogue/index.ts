/**
 * The actions Quell ships. A new action is one file in this directory and its line here; the order is the
 * order a playbook's actions of one phase are planned in (the first four are the original containment kinds,
 * in their original order, so incidents plan as they always did).
 */
import type { AnyActionDefinition } from '../define';
import blockDomain from './block-domain';
import blockIp from './block-ip';
import collectInvestigationPackage from './collect-investigation-package';
import disableAccount from './disable-account';
import isolateHost from './isolate-host';
import quarantineFile from './quarantine-file';
import runAntivirusScan from './run-antivirus-scan';

export const BUILTIN_ACTIONS: readonly AnyActionDefinition[] = [
  isolateHost,
  disableAccount,
  blockIp,
  blockDomain,
  runAntivirusScan,
  quarantineFile,
  collectInvestigationPackage,
];
