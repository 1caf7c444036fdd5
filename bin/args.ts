/**
 * Command-line options of the subcommands, read with node's `util.parseArgs` (`--out dir`, `--out=dir`, `-o dir`,
 * positionals) and checked here so that every command reports problems the same way: `unknown option '--x'`,
 * `'--out' needs a directory`. `--help`/`-h` is every command's.
 */
import { parseArgs } from 'util';

/** One option of a command. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** A one-letter alias, e.g. `o` for `-o`. */
  readonly short?: string;
  /** A string option that may be given more than once (its values are collected in order). */
  readonly multiple?: boolean;
  /**
   * What a string option's value is, for the message when it is missing: `'--out' needs <needs>`.
   * @default 'a value'
   */
  readonly needs?: string;
}

type Values<T extends Record<string, OptionSpec>> = {
  -readonly [K in keyof T]?: T[K] extends { type: 'boolean' } ? boolean : T[K] extends { multiple: true } ? string[] : string;
};

/** `help`: `--help` came before any problem; `error`: the first problem, in argument order. */
export type ParsedArgs<T extends Record<string, OptionSpec>> =
  | { readonly help: true }
  | { readonly error: string }
  | { readonly help?: undefined; readonly values: Values<T>; readonly positionals: string[] };

/**
 * Reads `argv` against `options`. The last of a repeated option wins unless it is `multiple`.
 * @param allowPositionals accept arguments that are not options (else each is an unknown option)
 */
export function parseCommandArgs<T extends Record<string, OptionSpec>>(argv: string[], options: T, allowPositionals = false): ParsedArgs<T> {
  const config = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  const { values, positionals, tokens } = parseArgs({ args: argv, options: config, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option' && t.name === 'help') return { help: true };
    const spec: OptionSpec | undefined = t.kind === 'option' ? config[t.name] : undefined;
    if (t.kind === 'option-terminator' || (t.kind === 'positional' && !allowPositionals)) return { error: `unknown option '${argv[t.index]}'` };
    if (t.kind !== 'option') continue;
    if (spec === undefined || (spec.type === 'boolean' && t.value !== undefined)) return { error: `unknown option '${argv[t.index]}'` };
    if (spec.type === 'string' && !t.value) return { error: `'--${t.name}' needs ${spec.needs ?? 'a value'}` };
  }
  delete values.help;
  return { values: values as Values<T>, positionals };
}
