// The real speaker's factory (speaker/index.ts), behind the cell's BgpSpeakerFactory token.
export { newSpeaker } from './speaker/index.js';
