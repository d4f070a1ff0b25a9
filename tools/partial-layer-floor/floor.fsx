// The floor of a cached (partial) layer in LibTorch: the tensor ops of TransformerLayer's cached path, called
// straight from F# with nothing of PolicyKit around them (no executor, no policy, no profiler), on a model's shapes
// with a distinct set of random weights and caches per layer (as a forward cycles through them), timed against the
// ops of a full layer. It answers: how fast could a partial layer be if PolicyKit's own overhead were zero?
//
//   dotnet build src/PolicyKit.Cli -c Release        # once: the script loads the TorchSharp that build restored
//   dotnet fsi tools/partial-layer-floor/floor.fsx [model dir] [tokens] [rows,rows,...]
//
// Defaults: models/policykit-ref, 277 tokens (its retrieval prompt + response), 4 and 16 rows (dllm-cache's
// recomputed rows and fast-dllm-dual's active block at gen 16). Prints µs per layer for 1 and 2 torch threads.
#r "../../src/PolicyKit.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../../src/PolicyKit.Cli/bin/Release/net10.0/PolicyKit.Diffusion.dll"

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open TorchSharp

type Tensor = torch.Tensor

let args = fsi.CommandLineArgs |> Array.skip 1
let modelDir = if args.Length > 0 then args.[0] else Path.Combine(__SOURCE_DIRECTORY__, "../../models/policykit-ref")
let tokens = if args.Length > 1 then int64 args.[1] else 277L
let rowCounts = if args.Length > 2 then args.[2].Split(',') |> Array.map int64 else [| 4L; 16L |]

// The sizes of a LLaDA (d_model, n_layers, ...) or Dream/Qwen2 (hidden_size, num_hidden_layers, ...) config.json.
let config = JsonDocument.Parse(File.ReadAllText(Path.Combine(modelDir, "config.json"))).RootElement
let size (names: string list) =
    names |> List.pick (fun n -> match config.TryGetProperty n with | true, v -> Some(v.GetInt64()) | _ -> None)
let hidden = size [ "d_model"; "hidden_size" ]
let layers = int (size [ "n_layers"; "num_hidden_layers" ])
let heads = size [ "n_heads"; "num_attention_heads" ]
let kvHeads = size [ "n_kv_heads"; "num_key_value_heads"; "n_heads"; "num_attention_heads" ]
let mlp = size [ "mlp_hidden_size"; "intermediate_size" ]
let headDim = hidden / heads
let kv = kvHeads * headDim
let groups = heads / kvHeads

// As the CLI: freed tensors stay in the process heap (else every large tensor is fresh pages, and page faults).
PolicyKit.Diffusion.Runtime.NativeHeap.RetainFreedMemory() |> ignore
torch.set_grad_enabled false |> ignore
let random (shape: int64[]) = (torch.randn(shape) * 0.05f).DetachFromDisposeScope()
let eps = Scalar.op_Implicit 1e-5

/// One layer's weights and caches, [1, T, features] as CacheSession keeps them.
type Layer =
    { Qkv: Tensor; O: Tensor; GateUp: Tensor; Down: Tensor; AttnNorm: Tensor; FfnNorm: Tensor
      Input: Tensor; Key: Tensor; Value: Tensor; Attention: Tensor; Ffn: Tensor }

let model =
    [| for _ in 1..layers ->
        { Qkv = random [| hidden + 2L * kv; hidden |]; O = random [| hidden; hidden |]
          GateUp = random [| 2L * mlp; hidden |]; Down = random [| hidden; mlp |]
          AttnNorm = torch.ones(hidden); FfnNorm = torch.ones(hidden)
          Input = random [| 1L; tokens; hidden |]; Key = random [| 1L; tokens; kv |]; Value = random [| 1L; tokens; kv |]
          Attention = random [| 1L; tokens; hidden |]; Ffn = random [| 1L; tokens; hidden |] } |]
let hiddenState = random [| 1L; tokens; hidden |]
let cos = random [| 1L; tokens; 1L; headDim |]
let signedSin = random [| 1L; tokens; 1L; headDim |]

// RmsNorm and Rotary.ApplyHeads as src/PolicyKit.Diffusion/Model computes them (the same calls).
let norm (x: Tensor) (weight: Tensor) =
    use square = x.square()
    use inverse = square.mean([| -1L |], true).add_(eps).rsqrt_()
    (x * inverse).mul_(weight)

let rotate (x: Tensor) (c: Tensor) (s: Tensor) =
    let n, width = x.shape.[1], x.shape.[2]
    use perHead = x.view(1L, n, width / headDim, headDim)
    use rolled = perHead.roll(headDim / 2L, -1)
    use y = perHead * c
    y.add_(rolled.mul_(s)) |> ignore
    y.view(1L, n, width)

let attend (q: Tensor) (k: Tensor) (v: Tensor) =
    let nq, nk = q.shape.[1], k.shape.[1]
    let kh = k.view(1L, nk, kvHeads, headDim).transpose(1, 2)
    let vh = v.view(1L, nk, kvHeads, headDim).transpose(1, 2)
    let stacked = q.view(1L, nq, kvHeads, groups, headDim).permute(0, 2, 3, 1, 4).reshape(1L, kvHeads, groups * nq, headDim)
    let o = torch.nn.functional.scaled_dot_product_attention(stacked, kh, vh)
    o.view(1L, kvHeads, groups, nq, headDim).permute(0, 3, 1, 2, 4).reshape(1L, nq, hidden)

/// The uncached layer: every row.
let fullLayer (layer: Layer) (h: Tensor) =
    use scope = torch.NewDisposeScope()
    let x = norm h layer.AttnNorm
    let qkv = torch.nn.functional.linear(x, layer.Qkv)
    let qk = rotate (qkv.narrow(-1, 0L, hidden + kv)) cos signedSin
    let a = attend (qk.narrow(-1, 0L, hidden)) (qk.narrow(-1, hidden, kv)) (qkv.narrow(-1, hidden + kv, kv))
    let mid = h + torch.nn.functional.linear(a, layer.O)
    let gateUp = torch.nn.functional.linear(norm mid layer.FfnNorm, layer.GateUp)
    let gated = torch.nn.functional.silu(gateUp.narrow(-1, 0L, mlp)).mul_(gateUp.narrow(-1, mlp, mlp))
    mid.add_(torch.nn.functional.linear(gated, layer.Down)).MoveToOuterDisposeScope()

/// The cached layer on the rows `index`: their q/k/v written into the caches, attention over every cached key,
/// their attention and FFN outputs written into the caches, the residual adds over every row from the caches.
let partialLayer (index: Tensor) (layer: Layer) (h: Tensor) =
    use scope = torch.NewDisposeScope()
    let x = norm (h.index_select(1, index)) layer.AttnNorm
    let qkv = torch.nn.functional.linear(x, layer.Qkv)
    let qk = rotate (qkv.narrow(-1, 0L, hidden + kv)) (cos.index_select(1, index)) (signedSin.index_select(1, index))
    layer.Input.index_copy_(1, index, x) |> ignore
    layer.Key.index_copy_(1, index, qk.narrow(-1, hidden, kv)) |> ignore
    layer.Value.index_copy_(1, index, qkv.narrow(-1, hidden + kv, kv)) |> ignore
    let a = attend (qk.narrow(-1, 0L, hidden)) layer.Key layer.Value
    layer.Attention.index_copy_(1, index, torch.nn.functional.linear(a, layer.O)) |> ignore
    let mid = h + layer.Attention
    let gateUp = torch.nn.functional.linear(norm (mid.index_select(1, index)) layer.FfnNorm, layer.GateUp)
    let gated = torch.nn.functional.silu(gateUp.narrow(-1, 0L, mlp)).mul_(gateUp.narrow(-1, mlp, mlp))
    layer.Ffn.index_copy_(1, index, torch.nn.functional.linear(gated, layer.Down)) |> ignore
    mid.add_(layer.Ffn).MoveToOuterDisposeScope()

/// µs per layer of `run` over every layer in turn (each layer's weights once per pass, as in a forward): the median
/// of 5 timings of about half a second each.
let microsecondsPerLayer (run: Layer -> Tensor -> Tensor) =
    let pass () = for layer in model do (run layer hiddenState).Dispose()
    let warm = Stopwatch.StartNew()
    let mutable warmPasses = 0
    while warm.ElapsedMilliseconds < 500L do
        pass ()
        warmPasses <- warmPasses + 1
    let passes = max 3 warmPasses
    [| for _ in 1..5 ->
        let watch = Stopwatch.StartNew()
        for _ in 1..passes do pass ()
        watch.Elapsed.TotalMilliseconds * 1000.0 / float (passes * layers) |]
    |> Array.sort |> fun times -> times.[2]

// FLOPs as src/PolicyKit.Diffusion/Flops/FlopCounter counts them (matmuls only).
let layerFlops (rows: int64) =
    2.0 * float rows * float hidden * float (hidden + 2L * kv) + 4.0 * float rows * float tokens * float hidden
    + 2.0 * float rows * float hidden * float hidden + 6.0 * float rows * float hidden * float mlp

printfn "%s: %d layers, hidden %d, heads %d/%d, mlp %d; %d tokens; %d torch threads available"
    (Path.GetFileName(Path.GetFullPath modelDir)) layers hidden heads kvHeads mlp tokens (Environment.ProcessorCount)
printfn "%-8s %-22s %12s %16s %16s" "threads" "layer" "µs" "time / full" "FLOPs / full"
for threads in [ 1; 2 ] do
    torch.set_num_threads threads
    let full = microsecondsPerLayer fullLayer
    printfn "%-8d %-22s %12.1f %16.3f %16.3f" threads "full" full 1.0 1.0
    for rows in rowCounts do
        // Rows at the end of the sequence (the response), as a cached step recomputes them.
        use index = torch.arange(tokens - rows, tokens, dtype = torch.int64)
        let partial = microsecondsPerLayer (partialLayer index)
        printfn "%-8d %-22s %12.1f %16.3f %16.3f" threads (sprintf "partial, %d rows" rows) partial (partial / full)
            (layerFlops rows / layerFlops tokens)
