/**
 * Who holds a run: the process id, host and process start time written into the run's row while
 * a process works on it, and the check whether that holder is still alive. A process killed with
 * SIGKILL leaves its row behind; the next attempt sees that the pid is gone (or now belongs to a
 * process that started at another time) and takes the run over.
 *
 * Hand-written rather than a lock-file package (proper-lockfile and the like): those detect a
 * stale lock by a file's age, refreshed by a timer, and a run's training keeps the event loop busy
 * for long stretches, so the timer would lapse and a live run would look dead. Whether the holding
 * process exists is the fact that matters, and it is one system call.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface Owner {
  pid: number;
  host: string;
  /** process start time in clock ticks since boot (Linux /proc), null where unknown */
  start: string | null;
}

export function currentOwner(): Owner {
  return { pid: process.pid, host: hostname(), start: processStartTime(process.pid) };
}

/** Field 22 of /proc/<pid>/stat; null when there is no /proc or no such process. */
export function processStartTime(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}

/** State (field 3) and start time (field 22) of /proc/<pid>/stat. */
function procStat(pid: number): { state: string; start: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], start: fields[19] };
  } catch {
    return null;
  }
}

/**
 * Whether the owner still runs. Owners on another host cannot be checked and count as alive
 * (the caller may be told to force a takeover).
 */
export function ownerAlive(owner: Owner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(owner.pid);
  if (stat !== null) {
    if (stat.state === 'Z' || stat.state === 'X') return false; // killed, not yet reaped
    if (owner.start !== null && stat.start !== owner.start) return false; // the pid was reused
  }
  return true;
}
