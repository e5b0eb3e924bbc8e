#!/usr/bin/env node
// `tvs` from a clone or an install: runs the TypeScript CLI through tsx, no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/tvs.ts');
await main();
