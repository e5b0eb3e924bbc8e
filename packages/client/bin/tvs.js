#!/usr/bin/env node
// The `tvs` command (docs/cli.md): the compiled CLI, run by plain Node.
import '../dist/cli/main.js';
