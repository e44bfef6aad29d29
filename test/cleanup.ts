/** Runs after every test file (jest setupFilesAfterEnv): the file's temporary folders are removed. */
import { removeTmpDirs } from './helpers';

afterAll(() => removeTmpDirs());
