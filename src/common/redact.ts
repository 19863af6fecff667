// Credentials never reach a message: user:password in URLs and secret query parameters (tokens,
// signed-URL signatures) are masked wherever a URL is quoted, and Hugging Face tokens anywhere.

const MASK = "***";

/** Query parameters that carry a secret: tokens, API keys, and the signatures of pre-signed CDN URLs. */
const SECRET_PARAMETER =
  /^(?:.*token|.*secret|.*password|passwd|auth|authorization|.*key|key-pair-id|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|policy|credential)$/i;

/** scheme://user:password@host → scheme://***@host (any userinfo, with or without a password). */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
/** ?name=value / &name=value in a quoted URL. */
const QUERY_PARAMETER = /([?&;])([^=&#\s"'<>]+)=([^&#\s"'<>]*)/g;
/** Hugging Face access tokens ("hf_" + 30-odd letters) wherever they appear. */
const HF_TOKEN = /\bhf_[A-Za-z0-9]{16,}\b/g;

/** `text` with every credential in it replaced by ***. */
export function redactCredentials(text: string): string {
  return text
    .replace(USERINFO, `$1${MASK}@`)
    .replace(QUERY_PARAMETER, (whole, separator: string, name: string) =>
      SECRET_PARAMETER.test(name) ? `${separator}${name}=${MASK}` : whole,
    )
    .replace(HF_TOKEN, `hf_${MASK}`);
}
