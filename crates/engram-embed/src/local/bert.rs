//! The BERT encoder of all-MiniLM-L6-v2, written for CPU inference with candle's tensors (the weights are the
//! sentence-transformers checkpoint, whose tensor names have no `bert.` prefix).
//!
//! Mathematically the same as Hugging Face's `BertModel` (and `candle_transformers::models::bert::BertModel`, which
//! engram does not depend on: it is the largest compile unit of the candle family), but arranged for speed on a CPU,
//! where profiling showed candle's version spending a third of its time outside matrix products: the query, key and value projections are one matrix product; the attention scale is folded into the
//! query weights; softmax is candle's fused last-dimension kernel instead of five separate passes; GELU uses a
//! rational approximation of `erf` (error below 1e-7, no `exp`) instead of a scalar `erf` per element; the padding
//! mask is skipped when a batch has no padding; and every tensor stays two-dimensional outside attention.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

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

/// A linear layer stored as `x · W + b` with `W` already transposed to `[in, out]` and contiguous.
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(vars: &VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Self> {
        let weight = vars.get((outputs, inputs), "weight")?.t()?.contiguous()?;
        let bias = vars.get(outputs, "bias")?;
        Ok(Self { weight, bias })
    }

    /// `x` is `[rows, in]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vars: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self { weight: vars.get(size, "weight")?, bias: vars.get(size, "bias")?, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    /// Query (pre-scaled by `1/sqrt(head_dim)`), key and value projections side by side: `[hidden, 3 * hidden]`.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder: token, position and type embeddings, then the transformer layers.
pub(crate) struct Bert {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    /// The embedding of token type 0 (sentence embeddings never use type 1).
    type_embedding: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
}

impl Bert {
    pub(crate) fn load(vars: &VarBuilder, config: &Config) -> candle_core::Result<Self> {
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
        let embeddings = vars.pp("embeddings");
        let word_embeddings = embeddings.get((config.vocab_size, hidden), "word_embeddings.weight")?;
        let position_embeddings =
            embeddings.get((config.max_position_embeddings, hidden), "position_embeddings.weight")?;
        let type_embedding =
            embeddings.get((config.type_vocab_size, hidden), "token_type_embeddings.weight")?.get(0)?;
        let embeddings_norm = LayerNorm::load(&embeddings.pp("LayerNorm"), hidden, config.layer_norm_eps)?;

        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let layer = vars.pp(format!("encoder.layer.{index}"));
            let attention = layer.pp("attention");
            let projection = |name: &str| Linear::load(&attention.pp("self").pp(name), hidden, hidden);
            let (query, key, value) = (projection("query")?, projection("key")?, projection("value")?);
            let qkv = Linear {
                weight: Tensor::cat(&[&(query.weight * scale)?, &key.weight, &value.weight], 1)?.contiguous()?,
                bias: Tensor::cat(&[&(query.bias * scale)?, &key.bias, &value.bias], 0)?,
            };
            layers.push(Layer {
                qkv,
                attention_output: Linear::load(&attention.pp("output.dense"), hidden, hidden)?,
                attention_norm: LayerNorm::load(&attention.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
                intermediate: Linear::load(&layer.pp("intermediate.dense"), hidden, config.intermediate_size)?,
                output: Linear::load(&layer.pp("output.dense"), config.intermediate_size, hidden)?,
                output_norm: LayerNorm::load(&layer.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
            });
        }
        Ok(Self {
            word_embeddings,
            position_embeddings,
            type_embedding,
            embeddings_norm,
            layers,
            heads,
            head_dim,
            hidden,
        })
    }

    /// The last hidden states, `[batch, tokens, hidden]`, of `ids` (`[batch, tokens]`, u32) where `mask`
    /// (`[batch, tokens]`, 1 for real tokens, 0 for padding) is `None` when nothing is padded.
    pub(crate) fn forward(&self, ids: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let position_and_type = self.position_embeddings.narrow(0, 0, tokens)?.broadcast_add(&self.type_embedding)?;
        let words = self.word_embeddings.index_select(&ids.flatten_all()?, 0)?.reshape((batch, tokens, self.hidden))?;
        let embedded = words.broadcast_add(&position_and_type)?.reshape((batch * tokens, self.hidden))?;
        let mut x = self.embeddings_norm.forward(&embedded)?;

        // Padded keys get the most negative score, so softmax gives them no weight (as Hugging Face does).
        let mask_bias = match mask {
            Some(mask) => {
                let padding = (1.0 - mask.to_dtype(DType::F32)?)?;
                Some((padding * f64::from(f32::MIN))?.reshape((batch, 1, 1, tokens))?)
            }
            None => None,
        };
        for layer in &self.layers {
            x = self.layer(layer, &x, batch, tokens, mask_bias.as_ref())?;
        }
        x.reshape((batch, tokens, self.hidden))
    }

    /// One transformer layer over `x` (`[batch * tokens, hidden]`).
    fn layer(
        &self,
        layer: &Layer,
        x: &Tensor,
        batch: usize,
        tokens: usize,
        mask_bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let qkv = layer
            .qkv
            .forward(x)?
            .reshape((batch, tokens, 3, self.heads, self.head_dim))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (query, key, value) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let mut scores = query.matmul(&key.t()?)?;
        if let Some(mask_bias) = mask_bias {
            scores = scores.broadcast_add(mask_bias)?;
        }
        let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
        let context =
            probabilities.matmul(&value)?.transpose(1, 2)?.contiguous()?.reshape((batch * tokens, self.hidden))?;
        let attended = layer.attention_norm.forward(&(layer.attention_output.forward(&context)? + x)?)?;
        let intermediate = layer.intermediate.forward(&attended)?.apply_op1_no_bwd(&Gelu)?;
        layer.output_norm.forward(&(layer.output.forward(&intermediate)? + attended)?)
    }
}

/// GELU as BERT defines it, `x/2 · (1 + erf(x/√2))`, over a contiguous f32 tensor.
struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf-rational"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(values) = storage else { candle_core::bail!("gelu: f32 tensors only") };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu: contiguous tensors only")
        };
        let output: Vec<f32> = values[start..end].iter().map(|&x| gelu(x)).collect();
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `erf` as a ratio of polynomials over `[-4, 4]` (beyond which f32 `erf` is ±1), the approximation Eigen and XLA
/// use for f32; absolute error below 1e-7. No branches, `exp` or `mul_add` (which is a library call unless the
/// build targets FMA), so the compiler vectorises the loop around it.
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let numerator = [
        -2.726_142_3e-10_f32,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ]
    .iter()
    .fold(0.0f32, |acc, c| acc * x2 + c)
        * x;
    let denominator = [-1.456_607_2e-5_f32, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2]
        .iter()
        .fold(0.0f32, |acc, c| acc * x2 + c);
    numerator / denominator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Reference values of erf to 10 digits.
        for (x, expected) in [
            (0.0f32, 0.0f64),
            (0.1, 0.112_462_916_0),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (-1.5, -0.966_105_146_5),
            (2.0, 0.995_322_265_0),
            (3.0, 0.999_977_909_5),
            (6.0, 1.0),
            (-9.0, -1.0),
        ] {
            let got = f64::from(erf(x));
            assert!((got - expected).abs() < 2e-7, "erf({x}) = {got}, expected {expected}");
        }
        assert_eq!(gelu(0.0), 0.0);
        assert!((f64::from(gelu(1.0)) - 0.841_344_746).abs() < 1e-6);
        assert!((f64::from(gelu(-1.0)) + 0.158_655_254).abs() < 1e-6);
    }
}
