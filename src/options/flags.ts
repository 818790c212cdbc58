// A declared option set on the command line (commander): addFlags puts each option's flag on a
// command (placeholder, help, default as commander shows it, choices, a parser that refuses what
// the library refuses with the library's message, naming the flag); fromFlags makes the parsed
// values the library's resolved config, without checking again what the parsers checked.
import { InvalidArgumentError, Option as CommanderOption, type Command } from 'commander';
import type { CliValuesOf, ConfigOf, Declarations, Flag, OptionSet, OptionsOf } from './declare';

/** Which declared option each commander option came from (an option shared by two sets is added once). */
const declaredBy = new WeakMap<CommanderOption, Flag['option']>();

function commanderOption(flag: Flag): CommanderOption {
  const { option } = flag;
  const derivedDefault = option.defaultFrom !== undefined || (!('default' in option) && option.defaultHelp !== undefined);
  const help = derivedDefault && option.defaultHelp !== undefined ? `${flag.help} (default: ${option.defaultHelp})` : flag.help;
  const made = new CommanderOption(flag.value === null ? flag.long : `${flag.long} ${flag.value}`, help);
  if (flag.value !== null) {
    if (option.choices) made.choices(option.choices);
    // (after choices(): the library's check and message, not commander's "Allowed choices are")
    made.argParser((text: string, previous: unknown) => {
      try {
        return flag.parse(text, previous);
      } catch (err) {
        throw err instanceof InvalidArgumentError ? err : new InvalidArgumentError((err as Error).message);
      }
    });
  }
  // A constant default is commander's too (--help shows it; the value is there unless given). A
  // --no-x switch alone is on by default in commander already.
  const onlyNegated = flag.value === null && flag.long.startsWith('--no-') && flag.negated === null;
  // (shown as defaultHelp says, or as the value itself: a flag that reads other units says it in defaultHelp)
  if ('default' in option && option.default !== undefined && !onlyNegated) made.default(option.default, option.defaultHelp);
  if (option.required) made.makeOptionMandatory();
  declaredBy.set(made, option);
  return made;
}

/** Adds a set's flags to `command`, in declaration order. A flag the command has already (an
 * option two sets share: the same declaration) is not added twice. */
export function addFlags(command: Command, set: OptionSet<Declarations>): Command {
  for (const flag of set.flags.values()) {
    const existing = command.options.find((o) => o.long === flag.long);
    if (existing) {
      if (declaredBy.get(existing) !== flag.option) throw new Error(`${command.name()}: ${flag.long} is declared twice, differently`);
      continue;
    }
    command.addOption(commanderOption(flag));
    if (flag.negated !== null) command.addOption(new CommanderOption(flag.long.replace(/^--/, '--no-'), flag.negated));
  }
  return command;
}

/** The name commander stores a flag's value under. */
const attributeName = (flag: Flag) => new CommanderOption(flag.long).attributeName();

/** The values of a set's command-line-only flags alone (what a command needs to work out library
 * values it then gives fromFlags as `computed`). */
export function cliValues<S extends OptionSet<Declarations>>(set: S, values: Readonly<Record<string, unknown>>): CliValuesOf<S> {
  const cli: Record<string, unknown> = {};
  for (const [key, flag] of set.flags) if (flag.option.cliOnly) cli[key] = values[attributeName(flag)] ?? flag.option.default;
  return cli as CliValuesOf<S>;
}

/**
 * A set's resolved config from a command's parsed values (commander's opts()), and the values of
 * its command-line-only flags. A flag's value was checked by its parser and is not checked again
 * (a switch's is: it has no parser); defaults are the declared ones. `computed`: library values the command works out
 * itself (checked). Checks of options together name the flags; they throw as resolve() does.
 */
export function fromFlags<S extends OptionSet<Declarations>>(
  set: S,
  values: Readonly<Record<string, unknown>>,
  computed: Partial<OptionsOf<S>> = {},
): { config: ConfigOf<S>; cli: CliValuesOf<S> } {
  const given: Record<string, unknown> = {};
  const parsed = new Set<string>();
  const cli: Record<string, unknown> = {};
  for (const [key, flag] of set.flags) {
    const value = values[attributeName(flag)];
    if (flag.option.cliOnly) cli[key] = value ?? flag.option.default;
    // (commander's copy of the default is the declared one: resolve fills it in)
    else if (value !== undefined && value !== flag.option.default) {
      given[key] = value;
      // a switch's true or false is checked by resolve: no parser ran (lossScaling: true -> {})
      if (flag.value !== null) parsed.add(key);
    }
  }
  for (const [key, value] of Object.entries(computed)) {
    given[key] = value;
    parsed.delete(key);
  }
  const config = set.resolveParsed(given, parsed, set.flagLabel) as ConfigOf<S>;
  return { config, cli: cli as CliValuesOf<S> };
}
