//! Adapters that run the slice kernels of [`super::kernels`] on candle tensors: in place on a tensor a matrix
//! product has just produced (no copy, no allocation), or into a new tensor. Only contiguous f32 CPU tensors are
//! accepted, which is all the encoder makes.

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Shape, Tensor};

/// Runs `kernel` over the values of `tensor`, in place.
pub(crate) fn update(tensor: &Tensor, name: &'static str, kernel: impl Fn(&mut [f32])) -> candle_core::Result<()> {
    tensor.inplace_op1(&Update { name, kernel })
}

/// Runs `kernel` over the values of `tensor` (in place) and of `other` (read only).
pub(crate) fn update_with(
    tensor: &Tensor,
    other: &Tensor,
    name: &'static str,
    kernel: impl Fn(&mut [f32], &[f32]),
) -> candle_core::Result<()> {
    tensor.inplace_op2(other, &UpdateWith { name, kernel })
}

/// A new tensor of `shape` holding what `kernel` makes of the values of `tensor`.
pub(crate) fn map(
    tensor: &Tensor,
    shape: impl Into<Shape>,
    name: &'static str,
    kernel: impl Fn(&[f32]) -> Vec<f32>,
) -> candle_core::Result<Tensor> {
    tensor.apply_op1_no_bwd(&Map { name, shape: shape.into(), kernel })
}

fn values<'a>(storage: &'a CpuStorage, layout: &Layout, name: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else { candle_core::bail!("{name}: f32 tensors only") };
    let Some((start, end)) = layout.contiguous_offsets() else { candle_core::bail!("{name}: contiguous tensors only") };
    Ok(&values[start..end])
}

fn values_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout, name: &str) -> candle_core::Result<&'a mut [f32]> {
    let CpuStorage::F32(values) = storage else { candle_core::bail!("{name}: f32 tensors only") };
    let Some((start, end)) = layout.contiguous_offsets() else { candle_core::bail!("{name}: contiguous tensors only") };
    Ok(&mut values[start..end])
}

struct Update<F> {
    name: &'static str,
    kernel: F,
}

impl<F: Fn(&mut [f32])> InplaceOp1 for Update<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        (self.kernel)(values_mut(storage, layout, self.name)?);
        Ok(())
    }
}

struct UpdateWith<F> {
    name: &'static str,
    kernel: F,
}

impl<F: Fn(&mut [f32], &[f32])> InplaceOp2 for UpdateWith<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        storage: &mut CpuStorage,
        layout: &Layout,
        other: &CpuStorage,
        other_layout: &Layout,
    ) -> candle_core::Result<()> {
        let other = values(other, other_layout, self.name)?;
        let values = values_mut(storage, layout, self.name)?;
        if values.len() != other.len() {
            candle_core::bail!("{}: {} values against {}", self.name, values.len(), other.len());
        }
        (self.kernel)(values, other);
        Ok(())
    }
}

struct Map<F> {
    name: &'static str,
    shape: Shape,
    kernel: F,
}

impl<F: Fn(&[f32]) -> Vec<f32>> CustomOp1 for Map<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let output = (self.kernel)(values(storage, layout, self.name)?);
        if output.len() != self.shape.elem_count() {
            candle_core::bail!("{}: made {} values for shape {:?}", self.name, output.len(), self.shape);
        }
        Ok((CpuStorage::F32(output), self.shape.clone()))
    }
}
