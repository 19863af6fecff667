// A caller's mistake in the options it passed (a value out of range, two options that exclude
// each other): reported as such, never as a failure of the model or the machine. The message
// names each option through `name`, so that the library says `opset` while the CLI, which maps
// options to its flags, says `--opset` — one message, no rewriting of its words.

/** How a message spells an option (the library: as the option is spelled; the CLI: its flag). */
export type OptionNamer = (option: string) => string;

/** The library's spelling: the option's own name (`opset`, `sentenceEmbedding.pooling`). */
export const libraryName: OptionNamer = (option) => option;

export class UsageError extends Error {
  private readonly compose: (name: OptionNamer) => string;

  /** `message`: the text, or a function of how options are spelled. */
  constructor(message: string | ((name: OptionNamer) => string)) {
    const compose = typeof message === "string" ? () => message : message;
    super(compose(libraryName));
    this.compose = compose;
    this.name = "UsageError";
  }

  /** The message with every option spelled by `name`. */
  messageFor(name: OptionNamer): string {
    return this.compose(name);
  }
}
