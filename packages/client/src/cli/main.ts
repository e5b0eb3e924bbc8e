// The entry point of the `tvs` command (docs/cli.md); `bin/tvs.js` runs its compiled form.
import { main } from './tvs.js';

await main();
