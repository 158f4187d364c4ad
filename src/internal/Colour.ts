/**
 * Whether terminal output is coloured: on a terminal, unless `NO_COLOR` is set to a non-empty value
 * (no-color.org: an empty `NO_COLOR` is as if unset). Shared by the CLI's help and the demo's tour.
 */
export const colourWanted = (isTTY: boolean | undefined, env: Readonly<Record<string, string | undefined>>): boolean =>
  isTTY === true && (env.NO_COLOR ?? "") === ""

/** Whether this process's stdout is coloured. */
export const stdoutColoured = (): boolean => colourWanted(process.stdout.isTTY, process.env)
