// Build step (npm run build, after tsc): extracts every command's help from its
// registration into dist/src/cli/help-data.json (see src/cli/help-data.ts).
import { cac } from 'cac';
import { COMMANDS } from './index.js';
import { HELP_DATA_FILE, collectHelpData, writeHelpData } from './help-data.js';

writeHelpData(await collectHelpData(COMMANDS, () => cac('hvscope')));
process.stderr.write(`wrote ${HELP_DATA_FILE}\n`);
