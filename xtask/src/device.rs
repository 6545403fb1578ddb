use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::ValueEnum;

/// Where tensors live, picked at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// burn's Flex backend (pure-Rust CPU; the default).
    Cpu,
    /// wgpu (Vulkan/Metal/DX12; on a machine without a GPU, Mesa's software Vulkan).
    Wgpu,
    /// CUDA: only in a build with `--features cuda`.
    Cuda,
}

impl DeviceArg {
    pub fn device(self) -> Result<Device> {
        Ok(match self {
            DeviceArg::Cpu => Device::flex(),
            DeviceArg::Wgpu => Device::wgpu(Default::default()),
            DeviceArg::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    Device::cuda(0usize)
                }
                #[cfg(not(feature = "cuda"))]
                bail!(
                    "this build has no CUDA backend: run `cargo run -p xtask --features cuda -- …` \
                     (it needs network access to fetch LLVM at build time) or use --device cpu|wgpu"
                )
            }
        })
    }
}
