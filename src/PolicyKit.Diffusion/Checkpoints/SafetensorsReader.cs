using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Checkpoints;

/// <summary>
/// Reads tensors from one safetensors file or a sharded checkpoint (<c>model.safetensors.index.json</c>).
/// </summary>
/// <remarks>
/// Our own reader rather than TorchSharp.PyBridge's: we need strict validation whose errors name the tensor
/// and the file, bf16/fp16 conversion into the compute dtype, the sharded index, and no allocation
/// proportional to a size a header claims (see <see cref="SafetensorsFile"/>). Data is read with positioned
/// reads straight into the destination tensor's memory; one handle per read, so reads are thread-safe.
/// </remarks>
public sealed class SafetensorsReader
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Largest single positioned read; tensors above it are copied in chunks (and spans stay under 2 GiB).</summary>
    internal static int ChunkBytes { get; set; } = 64 * 1024 * 1024;

    private SafetensorsReader(string source, IReadOnlyDictionary<string, SafetensorsEntry> tensors, IReadOnlyList<string> files)
    {
        Source = source;
        Tensors = tensors;
        Files = files;
    }

    /// <summary>The file (single) or the index (sharded) the tensors came from; used in errors about the whole set.</summary>
    public string Source { get; }

    public IReadOnlyDictionary<string, SafetensorsEntry> Tensors { get; }

    public IReadOnlyList<string> Files { get; }

    /// <summary>Opens one safetensors file.</summary>
    public static SafetensorsReader Open(string path)
    {
        var file = SafetensorsFile.Open(path);
        return new SafetensorsReader(path, file.Tensors, [path]);
    }

    /// <summary>
    /// Opens the weights in a checkpoint directory: the sharded index when present, else <c>model.safetensors</c>.
    /// </summary>
    public static SafetensorsReader OpenDirectory(string directory)
    {
        var index = Path.Combine(directory, IndexFileName);
        if (File.Exists(index)) return OpenIndex(index);
        var single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single)) return Open(single);
        throw new CheckpointException(directory, null, $"no {SingleFileName} or {IndexFileName} found");
    }

    /// <summary>Opens a sharded checkpoint through its index; every shard's header is validated.</summary>
    public static SafetensorsReader OpenIndex(string indexPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        Dictionary<string, string> weightMap;
        try
        {
            var bytes = File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new CheckpointException(indexPath, null, "not valid UTF-8");
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object ||
                !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(indexPath, null, "expected an object with a 'weight_map' object");
            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointException(indexPath, p.Name, "weight_map value must be a shard file name");
                var shard = p.Value.GetString()!;
                // Shards live next to the index: a path elsewhere is refused rather than followed.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new CheckpointException(indexPath, p.Name, $"shard name '{shard}' must be a plain file name in the same directory");
                if (!weightMap.TryAdd(p.Name, shard))
                    throw new CheckpointException(indexPath, p.Name, "appears twice in weight_map");
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointException(indexPath, null, $"not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") is valid UTF-8 and valid JSON, but not a readable string.
            throw new CheckpointException(indexPath, null, $"holds a string that is not valid Unicode: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(indexPath, null, $"cannot read: {e.Message}", e);
        }

        var shardNames = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var tensors = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var files = new List<string>();
        foreach (var shardName in shardNames)
        {
            var shardPath = Path.Combine(directory, shardName);
            if (!File.Exists(shardPath))
            {
                var example = weightMap.First(kv => kv.Value == shardName).Key;
                throw new CheckpointException(indexPath, example, $"names shard '{shardName}', which does not exist");
            }
            var shard = SafetensorsFile.Open(shardPath);
            files.Add(shardPath);
            foreach (var (name, entry) in shard.Tensors)
            {
                if (!weightMap.TryGetValue(name, out var listed))
                    throw new CheckpointException(shardPath, name, $"is not listed in {IndexFileName}");
                if (listed != shardName)
                    throw new CheckpointException(shardPath, name, $"{IndexFileName} places it in '{listed}'");
                tensors.Add(name, entry);
            }
        }
        foreach (var (name, shardName) in weightMap)
            if (!tensors.ContainsKey(name))
                throw new CheckpointException(Path.Combine(directory, shardName), name, $"listed in {IndexFileName} but missing from the shard");
        return new SafetensorsReader(indexPath, tensors, files);
    }

    public SafetensorsEntry Entry(string name) =>
        Tensors.TryGetValue(name, out var e) ? e : throw new CheckpointException(Source, name, "not found");

    /// <summary>Reads a tensor as stored (its file dtype) into a new CPU tensor.</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var t = torch.empty(entry.Shape, entry.DType.ToScalarType(), torch.CPU);
        try
        {
            Fill(entry, t);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies a tensor into <paramref name="destination"/> (any device and floating dtype), converting fp16/bf16/fp32.
    /// The shape must match exactly.
    /// </summary>
    public void CopyInto(string name, Tensor destination)
    {
        var entry = Entry(name);
        if (!entry.Shape.SequenceEqual(destination.shape))
            throw new CheckpointException(entry.File, name, $"has shape {entry.ShapeText}, expected [{string.Join(", ", destination.shape)}]");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var direct = destination.device_type == DeviceType.CPU && destination.dtype == entry.DType.ToScalarType() && destination.is_contiguous();
        if (direct)
        {
            Fill(entry, destination);
            return;
        }
        var staged = torch.empty(entry.Shape, entry.DType.ToScalarType(), torch.CPU);
        Fill(entry, staged);
        destination.copy_(staged);
    }

    private static void Fill(SafetensorsEntry entry, Tensor target)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian");
        if (entry.ByteLength == 0) return;
        try
        {
            using var handle = File.OpenHandle(entry.File, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (RandomAccess.GetLength(handle) < entry.Offset + entry.ByteLength)
                throw new CheckpointException(entry.File, entry.Name, "truncated: the file is shorter than the tensor's data range");
            using var flat = target.view(-1);
            var elementSize = entry.DType.ElementSize();
            var chunkElements = Math.Max(1, ChunkBytes / elementSize);
            var count = entry.ByteLength / elementSize;
            for (long done = 0; done < count; done += chunkElements)
            {
                var n = Math.Min(chunkElements, count - done);
                using var part = flat.narrow(0, done, n);
                SafetensorsFile.ReadExactly(handle, part.bytes, entry.Offset + done * elementSize, entry.File, entry.Name);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(entry.File, entry.Name, $"cannot read: {e.Message}", e);
        }
    }
}
