using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RoutingDataSource.Classification;

/// <summary>
/// Ordinal equality for SQL texts with a hash that reads 64 bytes per step. A cache hit hashes the whole
/// text, so the general-purpose string hash (2 characters per step) would dominate a lookup of a
/// 200-character statement.
/// </summary>
/// <remarks>
/// Four independent multiply-add accumulators per 32-bit lane, then a final avalanche. Not meant to
/// resist crafted collisions: the texts are the application's own SQL. The seed varies per process.
/// </remarks>
internal sealed class SqlTextComparer : IEqualityComparer<string>
{
    private const uint Multiplier = 0x9E3779B1;

    private static readonly uint Seed = (uint)Environment.TickCount | 1;

    private SqlTextComparer()
    {
    }

    public static SqlTextComparer Instance { get; } = new();

    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

    public int GetHashCode(string obj) => Hash(obj);

    internal static int Hash(ReadOnlySpan<char> text)
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(text);
        uint hash = Seed ^ (uint)text.Length;
        int i = 0;
        if (Vector128.IsHardwareAccelerated && bytes.Length >= 16)
        {
            ref byte start = ref MemoryMarshal.GetReference(bytes);
            var multiplier = Vector128.Create(Multiplier);
            var a0 = Vector128.Create(hash);
            var a1 = Vector128.Create(hash + 1);
            var a2 = Vector128.Create(hash + 2);
            var a3 = Vector128.Create(hash + 3);
            for (; i + 64 <= bytes.Length; i += 64)
            {
                a0 = (a0 * multiplier) + Vector128.LoadUnsafe(ref start, (nuint)i).AsUInt32();
                a1 = (a1 * multiplier) + Vector128.LoadUnsafe(ref start, (nuint)(i + 16)).AsUInt32();
                a2 = (a2 * multiplier) + Vector128.LoadUnsafe(ref start, (nuint)(i + 32)).AsUInt32();
                a3 = (a3 * multiplier) + Vector128.LoadUnsafe(ref start, (nuint)(i + 48)).AsUInt32();
            }

            for (; i + 16 <= bytes.Length; i += 16)
            {
                a0 = (a0 * multiplier) + Vector128.LoadUnsafe(ref start, (nuint)i).AsUInt32();
            }

            if (i < bytes.Length)
            {
                // The last 16 bytes, overlapping what was read: covers the tail without a scalar loop.
                a1 = (a1 * multiplier) + Vector128.LoadUnsafe(ref start, (nuint)(bytes.Length - 16)).AsUInt32();
            }

            var folded = (a0 * multiplier) + a1;
            folded = (folded * multiplier) + a2;
            folded = (folded * multiplier) + a3;
            hash = Combine(hash, folded.GetElement(0));
            hash = Combine(hash, folded.GetElement(1));
            hash = Combine(hash, folded.GetElement(2));
            hash = Combine(hash, folded.GetElement(3));
            i = bytes.Length;
        }

        for (; i + 4 <= bytes.Length; i += 4)
        {
            hash = Combine(hash, MemoryMarshal.Read<uint>(bytes[i..]));
        }

        if (i < bytes.Length)
        {
            // UTF-16 leaves at most one character (2 bytes) here.
            hash = Combine(hash, MemoryMarshal.Read<ushort>(bytes[i..]));
        }

        return (int)Avalanche(hash);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Combine(uint hash, uint value) => (BitOperations.RotateLeft(hash ^ value, 13) * 5) + 0xE6546B64;

    private static uint Avalanche(uint hash)
    {
        hash ^= hash >> 16;
        hash *= 0x85EBCA6B;
        hash ^= hash >> 13;
        hash *= 0xC2B2AE35;
        hash ^= hash >> 16;
        return hash;
    }
}
