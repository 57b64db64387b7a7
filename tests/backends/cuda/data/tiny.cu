extern "C" __global__ void __launch_bounds__(64) tiny(const float4* __restrict__ a, float* __restrict__ c, int n) {
  __shared__ float4 s[64];
  float acc = 0.0f;
  #pragma unroll 1
  for (int k = 0; k < n; ++k) {
    s[threadIdx.x] = a[k * 64 + threadIdx.x];
    __syncthreads();
    float4 v = s[(threadIdx.x + 1) % 64];
    acc = fmaf(v.x, v.y, acc);
    acc = fmaf(v.z, v.w, acc);
    acc = fmaf(v.x, v.w, acc);
    __syncthreads();
  }
  c[threadIdx.x] = acc;
}
