/**
 * Waits for `step`, but not longer than `ms`: for shutdown steps that must not hold the process (a read loop whose
 * request is in flight to an unreachable server ends later on its own). The timer is a normal (ref'd) one and is cleared
 * when the step settles first, so the process neither exits in the middle of a stop nor lingers after it.
 */
export async function atMost(step: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([step.then(() => undefined, () => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
