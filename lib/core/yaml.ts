/**
 * @internal YAML every reader reads the same: the `yaml` library writes YAML 1.2, in which a plain `=`, `on`, `yes`
 * or `1:20` is a string; YAML 1.1 readers (PyYAML, so Ansible, docker-compose 1.x and Python linters) read `=` as the
 * `!!value` tag (PyYAML fails: "could not determine a constructor for the tag 'tag:yaml.org,2002:value'") and the
 * others as booleans and numbers. Written with the 1.1 schema's quoting (booleans, sexagesimal numbers) and `=`,
 * `=~`-style scalars starting with `=` quoted, the text means the same to both.
 */
import { Document, visit } from 'yaml';

export function portableYaml(value: unknown, options: { lineWidth?: number } = {}): string {
  const doc = new Document(value, { version: '1.1' });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /^(=|<<)/.test(node.value)) node.type = 'QUOTE_SINGLE';
    },
  });
  return doc.toString({ lineWidth: options.lineWidth ?? 80 }).replace(/^%YAML 1\.1\n---\n/, '');
}
