//! The BERT encoder of all-MiniLM-L6-v2, written for CPU inference: candle's matrix products and our own fused
//! kernels ([`super::kernels`]) for everything else. The weights are the sentence-transformers checkpoint, whose
//! tensor names have no `bert.` prefix.
//!
//! Mathematically the same as Hugging Face's `BertModel` (and `candle_transformers::models::bert::BertModel`, which
//! engram does not depend on: it is the largest compile unit of the candle family), but arranged for speed on a
//! CPU, where the matrix products are nearly all the arithmetic and everything else is overhead to cut:
//!
//! - A batch is *packed*: the texts' tokens are stacked into one `[tokens, hidden]` matrix with no padding, so the
//!   linear layers (per-token work) do no wasted rows, and attention runs over each text's own tokens ([`Span`]),
//!   which needs no mask.
//! - The query, key and value projections are one matrix product, with the attention scale folded into the query
//!   weights.
//! - Each bias is added inside the step after its matrix product: with GELU, or with the residual connection and
//!   the layer normalisation, in place on the product's output. No candle element-wise operation runs, so candle's
//!   spinning element-wise thread pool is never started.
//! - Attention reads the heads straight out of the fused projection and writes the context in the layout the
//!   output projection reads: no transposes or copies.

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::kernels::{self, Norm, Span};
use super::ops;

/// The fields of the model's `config.json` this encoder reads (Hugging Face's `BertConfig` names).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Config {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) hidden_act: String,
    pub(crate) max_position_embeddings: usize,
    pub(crate) type_vocab_size: usize,
    pub(crate) layer_norm_eps: f64,
}

/// A linear layer: the weight as `[in, out]` (transposed once at load, so the product reads it row by row) and the
/// bias, which the kernel after the product adds.
struct Linear {
    weight: Tensor,
    bias: Vec<f32>,
}

impl Linear {
    fn load(vars: &VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Self> {
        let weight = vars.get((outputs, inputs), "weight")?.t()?.contiguous()?;
        let bias = vars.get(outputs, "bias")?.to_vec1::<f32>()?;
        Ok(Self { weight, bias })
    }

    /// `x · W` for `x` of `[rows, in]`; the bias is not added yet.
    fn product(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight)
    }
}

fn load_norm(vars: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<Norm> {
    Ok(Norm {
        gamma: vars.get(size, "weight")?.to_vec1::<f32>()?,
        beta: vars.get(size, "bias")?.to_vec1::<f32>()?,
        eps: eps as f32,
    })
}

struct Layer {
    /// Query (pre-scaled by `1/sqrt(head_dim)`), key and value projections side by side: `[hidden, 3 * hidden]`.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// Attention for one head size (see [`kernels::attention`]), chosen at load.
type Attention = fn(&[f32], &[Span], usize) -> Vec<f32>;

/// The encoder: token, position and type embeddings, then the transformer layers.
pub(crate) struct Bert {
    /// `[vocab, hidden]`, row-major.
    word_embeddings: Vec<f32>,
    /// Each position's embedding plus the embedding of token type 0 (sentence embeddings never use type 1),
    /// `[positions, hidden]`, row-major.
    position_and_type: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    attention: Attention,
    device: Device,
}

impl Bert {
    pub(crate) fn load(vars: &VarBuilder, config: &Config, device: &Device) -> candle_core::Result<Self> {
        if config.hidden_act != "gelu" {
            candle_core::bail!(
                "unsupported hidden_act {:?}: this encoder implements \"gelu\" (erf)",
                config.hidden_act
            );
        }
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            candle_core::bail!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}");
        }
        let head_dim = hidden / heads;
        let attention: Attention = match head_dim {
            32 => kernels::attention::<32>,
            64 => kernels::attention::<64>,
            other => candle_core::bail!("attention heads of {other} dimensions are not supported (32 or 64 are)"),
        };
        let embeddings = vars.pp("embeddings");
        let word_embeddings =
            embeddings.get((config.vocab_size, hidden), "word_embeddings.weight")?.flatten_all()?.to_vec1::<f32>()?;
        let type_embedding = embeddings
            .get((config.type_vocab_size, hidden), "token_type_embeddings.weight")?
            .get(0)?
            .to_vec1::<f32>()?;
        // Added here rather than with candle's `broadcast_add`, which would start candle's element-wise thread pool.
        let mut position_and_type = embeddings
            .get((config.max_position_embeddings, hidden), "position_embeddings.weight")?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for row in position_and_type.chunks_exact_mut(hidden) {
            for (x, t) in row.iter_mut().zip(&type_embedding) {
                *x += t;
            }
        }
        let embeddings_norm = load_norm(&embeddings.pp("LayerNorm"), hidden, config.layer_norm_eps)?;

        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let layer = vars.pp(format!("encoder.layer.{index}"));
            let attention = layer.pp("attention");
            let projection = |name: &str| {
                let vars = attention.pp("self").pp(name);
                Ok::<_, candle_core::Error>((vars.get((hidden, hidden), "weight")?.t()?, vars.get(hidden, "bias")?))
            };
            let ((query, query_bias), (key, key_bias), (value, value_bias)) =
                (projection("query")?, projection("key")?, projection("value")?);
            let qkv = Linear {
                weight: Tensor::cat(&[&(query * scale)?, &key, &value], 1)?.contiguous()?,
                bias: Tensor::cat(&[&(query_bias * scale)?, &key_bias, &value_bias], 0)?.to_vec1::<f32>()?,
            };
            layers.push(Layer {
                qkv,
                attention_output: Linear::load(&attention.pp("output.dense"), hidden, hidden)?,
                attention_norm: load_norm(&attention.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
                intermediate: Linear::load(&layer.pp("intermediate.dense"), hidden, config.intermediate_size)?,
                output: Linear::load(&layer.pp("output.dense"), config.intermediate_size, hidden)?,
                output_norm: load_norm(&layer.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
            });
        }
        Ok(Self {
            word_embeddings,
            position_and_type,
            embeddings_norm,
            layers,
            heads,
            hidden,
            attention,
            device: device.clone(),
        })
    }

    /// The last hidden states, `[tokens, hidden]`, of a packed batch: `ids` holds every text's token ids one text
    /// after the other, and `spans` says which rows belong to which text.
    pub(crate) fn forward(&self, ids: &[u32], spans: &[Span]) -> candle_core::Result<Tensor> {
        let mut x = self.embed(ids, spans)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, spans)?;
        }
        Ok(x)
    }

    /// `norm(word + position + type)` for every token.
    fn embed(&self, ids: &[u32], spans: &[Span]) -> candle_core::Result<Tensor> {
        let hidden = self.hidden;
        let mut embedded = vec![0.0f32; ids.len() * hidden];
        for span in spans {
            let rows = embedded[span.start * hidden..(span.start + span.len) * hidden].chunks_exact_mut(hidden);
            for (position, (row, &id)) in rows.zip(&ids[span.start..span.start + span.len]).enumerate() {
                let id = id as usize;
                let (Some(word), Some(position)) = (
                    self.word_embeddings.get(id * hidden..(id + 1) * hidden),
                    self.position_and_type.get(position * hidden..(position + 1) * hidden),
                ) else {
                    candle_core::bail!("token id {id} at position {position} is outside the embedding tables");
                };
                for ((x, w), p) in row.iter_mut().zip(word).zip(position) {
                    *x = w + p;
                }
            }
        }
        kernels::norm_rows(&mut embedded, &self.embeddings_norm);
        Tensor::from_vec(embedded, (ids.len(), hidden), &self.device)
    }

    /// One transformer layer over `x` (`[tokens, hidden]`).
    fn layer(&self, layer: &Layer, x: &Tensor, spans: &[Span]) -> candle_core::Result<Tensor> {
        let qkv = layer.qkv.product(x)?;
        ops::update(&qkv, "qkv-bias", |values| kernels::add_bias(values, &layer.qkv.bias))?;
        let context = ops::map(&qkv, x.shape(), "attention", |values| (self.attention)(values, spans, self.heads))?;

        let attended = layer.attention_output.product(&context)?;
        ops::update_with(&attended, x, "attention-output-norm", |values, residual| {
            kernels::add_bias_residual_norm(values, residual, &layer.attention_output.bias, &layer.attention_norm)
        })?;

        let intermediate = layer.intermediate.product(&attended)?;
        ops::update(&intermediate, "intermediate-gelu", |values| {
            kernels::add_bias_gelu(values, &layer.intermediate.bias)
        })?;

        let output = layer.output.product(&intermediate)?;
        ops::update_with(&output, &attended, "output-norm", |values, residual| {
            kernels::add_bias_residual_norm(values, residual, &layer.output.bias, &layer.output_norm)
        })?;
        Ok(output)
    }
}
