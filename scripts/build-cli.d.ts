/** Types of scripts/build-cli.js (plain CommonJS: it runs before anything is compiled). */
export declare const BUNDLE: string;
export declare function buildCli(): string;
export declare function cliBundle(): string | undefined;
export declare function freshBundle(): string | undefined;
