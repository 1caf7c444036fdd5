/**
 * `GoldenSet.fromFile`: the constructs' side of the golden set (lib/core/quality.ts has the format, the parser and
 * the digest, shared with the agent; lib/core reads no files).
 */
import * as fs from 'fs';
import * as path from 'path';
import { GoldenSet as CoreGoldenSet } from '../core/quality';

export class GoldenSet extends CoreGoldenSet {
  /**
   * Reads and checks a golden set when the stack is synthesized (a malformed line fails the synth, naming it); the
   * single-host bundle ships the file to the agent. `file` is relative to the working directory.
   */
  public static fromFile(file: string): CoreGoldenSet {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`'quality.goldenSet' file '${file}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); `
        + "give the path of a JSON-lines golden set, e.g. GoldenSet.fromFile('golden/churn.jsonl')");
    }
    return CoreGoldenSet.parse(text, path.basename(file), text);
  }
}
