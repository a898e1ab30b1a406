// Injected into the CommonJS bundle (scripts/build.ts): what `import.meta.url` means there.
import { pathToFileURL } from 'node:url';

export const importMetaUrl = pathToFileURL(__filename).href;
