// Sequence classification (cross-encoder rerankers): `*ForSequenceClassification` heads with
// their Hugging Face tensor names, one output `logits` [batch, num_labels]. Three shapes cover the
// supported model types, each following its transformers class:
//   pooler:  tanh(pooler.dense(first token)) → classifier   (BertForSequenceClassification; ALBERT,
//            whose pooler is a bare Linear; JinaBERT; GTE's NewForSequenceClassification)
//   mlp:     first token → dense → act → out                (RobertaClassificationHead: tanh, also
//            XLM-R, CamemBERT, MPNet; ElectraClassificationHead: gelu; DistilBERT: pre_classifier
//            → relu → classifier)
//   modernbert: classifier_pooling (cls | mean) → head.dense → act → head.norm → classifier
//            (ModernBertForSequenceClassification)
//   lasttoken: the last real token (either padding side) → score, no bias
//            (Qwen3/Qwen2/Gemma3TextForSequenceClassification: the decoder under "model.")
// Dropout is the identity at inference.
import type { Value } from "../graph/builder.js";
import { type Activation, readActivation } from "../arch/activation.js";
import type { ConfigReader } from "../arch/config.js";
import type { ModernBertConfig } from "../arch/modernbert.js";
import { ReferenceBlocks } from "../arch/reference/blocks.js";
import * as ref from "../arch/reference/math.js";
import { type LinearRef, type NormRef, linearBias, linearRef, linearWeight, normRef } from "../arch/weight-refs.js";
import { METADATA, OUTPUT } from "../artifact/names.js";
import type { Head, HeadSite } from "./head.js";
import { graphSteps, poolGraph, poolTokens, referenceSteps } from "./pooling.js";

/** The activation between a classification head's two maps: the encoder's kinds, or tanh. */
export type HeadActivation = Activation | "tanh";

/** How the head turns token vectors into logits, tensor names as stored in the checkpoint. */
export type ClassifierPlan =
  | { kind: "pooler"; pooler: LinearRef; classifier: LinearRef }
  | { kind: "mlp"; dense: LinearRef; activation: HeadActivation; out: LinearRef }
  | { kind: "modernbert"; pooling: "cls" | "mean"; dense: LinearRef; activation: Activation; norm: NormRef; classifier: LinearRef }
  | { kind: "lasttoken"; score: LinearRef };

/**
 * num_labels as transformers derives it: the length of id2label when the config has one (that
 * is what save_pretrained writes), else num_labels, else 2 (PretrainedConfig's default).
 */
export function readNumLabels(c: ConfigReader): number {
  const labels = c.raw("id2label");
  if (labels && typeof labels === "object" && !Array.isArray(labels)) {
    const count = Object.keys(labels).length;
    if (count < 1) throw c.fail(`"id2label" is empty; a classification head needs at least one label`);
    return count;
  }
  return c.int("num_labels", { min: 1, fallback: 2 });
}

/** Architectures (template names) whose sequence-classification head is exported. */
export const CLASSIFICATION_ARCHITECTURES = [
  "bert",
  "jina_bert",
  "albert",
  "gte",
  "roberta",
  "mpnet",
  "electra",
  "distilbert",
  "modernbert",
  "qwen3",
  "qwen2",
  "gemma3_text",
] as const;

/** The plan of `site`'s sequence-classification head, from its template and config.json. */
export function classifierPlan(architecture: string, c: ConfigReader, site: HeadSite): ClassifierPlan {
  const h = site.config.hiddenSize;
  const labels = readNumLabels(c);
  const at = (name: string) => site.prefix + name;
  switch (architecture) {
    case "bert":
    case "jina_bert":
    case "gte":
      return { kind: "pooler", pooler: linearRef(at("pooler.dense"), h, h), classifier: linearRef("classifier", h, labels) };
    case "albert":
      return { kind: "pooler", pooler: linearRef(at("pooler"), h, h), classifier: linearRef("classifier", h, labels) };
    case "roberta":
    case "mpnet":
      return {
        kind: "mlp",
        dense: linearRef("classifier.dense", h, h),
        activation: "tanh",
        out: linearRef("classifier.out_proj", h, labels),
      };
    case "electra":
      // ElectraClassificationHead applies GELU (exact), whatever hidden_act says.
      return {
        kind: "mlp",
        dense: linearRef("classifier.dense", h, h),
        activation: "gelu",
        out: linearRef("classifier.out_proj", h, labels),
      };
    case "distilbert":
      return { kind: "mlp", dense: linearRef("pre_classifier", h, h), activation: "relu", out: linearRef("classifier", h, labels) };
    case "modernbert": {
      const m = site.config as ModernBertConfig;
      return {
        kind: "modernbert",
        pooling: c.oneOf("classifier_pooling", ["cls", "mean"] as const, "cls"),
        dense: linearRef("head.dense", h, h, c.boolean("classifier_bias", false)),
        activation: readActivation(c, "classifier_activation", "gelu"),
        norm: normRef("head.norm", h, m.normEps, m.normBias),
        classifier: linearRef("classifier", h, labels),
      };
    }
    case "qwen3":
    case "qwen2":
    case "gemma3_text":
      return { kind: "lasttoken", score: linearRef("score", h, labels, false) };
    default:
      throw c.fail(
        `sequence classification (rerank) is not supported for ${architecture} models; supported: ${CLASSIFICATION_ARCHITECTURES.join(", ")}`,
      );
  }
}

/** The tensors a plan reads (to check the checkpoint has them before building anything). */
export function planTensors(plan: ClassifierPlan): string[] {
  const linear = (l: LinearRef) => [linearWeight(l).name, ...(l.bias ? [linearBias(l).name] : [])];
  switch (plan.kind) {
    case "pooler":
      return [...linear(plan.pooler), ...linear(plan.classifier)];
    case "mlp":
      return [...linear(plan.dense), ...linear(plan.out)];
    case "modernbert":
      return [
        ...linear(plan.dense),
        `${plan.norm.prefix}.weight`,
        ...(plan.norm.bias === false ? [] : [`${plan.norm.prefix}.bias`]),
        ...linear(plan.classifier),
      ];
    case "lasttoken":
      return linear(plan.score);
  }
}

export function numLabelsOf(plan: ClassifierPlan): number {
  return (plan.kind === "mlp" ? plan.out : plan.kind === "lasttoken" ? plan.score : plan.classifier).outFeatures;
}

/** The `logits` head of `plan`. */
export function classificationHead(plan: ClassifierPlan, architecture: string): Head {
  const labels = numLabelsOf(plan);
  return {
    name: `classification:${plan.kind}`,
    outputs: [{ name: OUTPUT.logits, dims: ["batch", labels], perToken: false }],
    judge: { kind: "spearman", output: OUTPUT.logits },
    emit({ nn, ops, inputs }, encoder) {
      const activate = (x: Value, kind: HeadActivation) => (kind === "tanh" ? ops.tanh(x) : nn.activation(x, kind));
      let logits: Value;
      switch (plan.kind) {
        case "pooler": {
          const pooled = encoder.pooled ?? nn.pooler(encoder.hidden, plan.pooler);
          logits = nn.linear(pooled, plan.classifier);
          break;
        }
        case "mlp":
          logits = nn.linear(activate(nn.linear(nn.firstToken(encoder.hidden), plan.dense), plan.activation), plan.out);
          break;
        case "modernbert": {
          const pooled = poolGraph(nn, encoder.hidden, inputs.attentionMask, { pooling: plan.pooling, normalize: false });
          logits = nn.linear(nn.norm(nn.activation(nn.linear(pooled, plan.dense), plan.activation), plan.norm), plan.classifier);
          break;
        }
        case "lasttoken":
          logits = nn.linear(graphSteps(nn, encoder.hidden, inputs.attentionMask).pool("lasttoken"), plan.score);
          break;
      }
      return {
        values: { [OUTPUT.logits]: logits },
        metadata: { [METADATA.head]: `${architecture}:${plan.kind}`, [METADATA.numLabels]: String(labels) },
      };
    },
    reference({ weights, batch }, encoder) {
      const nn = new ReferenceBlocks(weights, batch);
      const activate = (x: Float32Array, kind: HeadActivation) => (kind === "tanh" ? ref.tanh(x) : nn.activation(x, kind));
      switch (plan.kind) {
        case "pooler": {
          const pooled = encoder.pooled ?? nn.pooler(encoder.hidden, plan.pooler);
          return { [OUTPUT.logits]: nn.linear(pooled, plan.classifier) };
        }
        case "mlp":
          return { [OUTPUT.logits]: nn.linear(activate(nn.linear(nn.firstToken(encoder.hidden), plan.dense), plan.activation), plan.out) };
        case "modernbert": {
          const shape = { batch: batch.batch, sequence: batch.sequence, hidden: plan.dense.inFeatures };
          const pooled = poolTokens(encoder.hidden, batch.attentionMask, shape, { pooling: plan.pooling, normalize: false });
          return {
            [OUTPUT.logits]: nn.linear(nn.norm(nn.activation(nn.linear(pooled, plan.dense), plan.activation), plan.norm), plan.classifier),
          };
        }
        case "lasttoken": {
          const shape = { batch: batch.batch, sequence: batch.sequence, hidden: plan.score.inFeatures };
          return { [OUTPUT.logits]: nn.linear(referenceSteps(encoder.hidden, batch.attentionMask, shape).pool("lasttoken"), plan.score) };
        }
      }
    },
  };
}
