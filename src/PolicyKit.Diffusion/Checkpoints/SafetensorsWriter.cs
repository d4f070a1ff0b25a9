using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Checkpoints;

/// <summary>Writes safetensors files (single and sharded with an index) in the layout HF tools read.</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> (name, tensor) to <paramref name="path"/>, converting each to
    /// <paramref name="storeAs"/> when given. The header is space-padded to a multiple of 8 bytes, as the format recommends.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        SafetensorsDType? storeAs = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata) m[k] = v;
            header["__metadata__"] = m;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var dtypes = new SafetensorsDType[list.Count];
        long offset = 0;
        for (var i = 0; i < list.Count; i++)
        {
            var (name, t) = list[i];
            if (!seen.Add(name)) throw new ArgumentException($"tensor '{name}' given twice", nameof(tensors));
            dtypes[i] = storeAs ?? SafetensorsDTypes.FromScalarType(t.dtype);
            var bytes = checked(t.numel() * dtypes[i].ElementSize());
            header[name] = new JsonObject
            {
                ["dtype"] = dtypes[i].ToString(),
                ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        stream.Write(prefix);
        stream.Write(json);
        for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        for (var i = 0; i < list.Count; i++)
        {
            using var scope = torch.NewDisposeScope();
            var t = list[i].Value.detach().to(torch.CPU).to(dtypes[i].ToScalarType()).contiguous();
            if (t.numel() == 0) continue;
            var flat = t.view(-1);
            var chunk = 64L * 1024 * 1024 / dtypes[i].ElementSize();
            for (long done = 0; done < flat.numel(); done += chunk)
                stream.Write(flat.narrow(0, done, Math.Min(chunk, flat.numel() - done)).bytes);
        }
    }

    /// <summary>
    /// Writes a sharded checkpoint into <paramref name="directory"/>: <c>model-0000k-of-0000n.safetensors</c>
    /// files holding consecutive runs of tensors, and <c>model.safetensors.index.json</c> mapping names to shards.
    /// </summary>
    public static IReadOnlyList<string> WriteSharded(string directory, IReadOnlyList<KeyValuePair<string, Tensor>> tensors,
        int shardCount, SafetensorsDType? storeAs = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        shardCount = Math.Min(shardCount, Math.Max(1, tensors.Count));
        Directory.CreateDirectory(directory);
        var weightMap = new JsonObject();
        var files = new List<string>();
        long totalSize = 0;
        for (var s = 0; s < shardCount; s++)
        {
            var from = (int)((long)tensors.Count * s / shardCount);
            var to = (int)((long)tensors.Count * (s + 1) / shardCount);
            var name = $"model-{s + 1:D5}-of-{shardCount:D5}.safetensors";
            var part = tensors.Skip(from).Take(to - from).ToList();
            Write(Path.Combine(directory, name), part, storeAs);
            foreach (var (tensorName, t) in part)
            {
                weightMap[tensorName] = name;
                totalSize += t.numel() * (storeAs ?? SafetensorsDTypes.FromScalarType(t.dtype)).ElementSize();
            }
            files.Add(name);
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = totalSize },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(Path.Combine(directory, SafetensorsReader.IndexFileName),
            index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return files;
    }
}
